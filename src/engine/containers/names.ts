// Container names: validation and Docker-style generated names (adjective_surname).
import * as crypto from 'node:crypto';
import { invalidParameter } from '../errdefs';

const NAME_RE = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** A user-given name without its leading slash; throws Docker's error for invalid ones. */
export function validateName(name: string): string {
  if (!NAME_RE.test(name)) throw invalidParameter(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.replace(/^\//, '');
}

const LEFT = [
  'admiring', 'adoring', 'affectionate', 'agitated', 'amazing', 'angry', 'awesome', 'blissful', 'bold', 'boring',
  'brave', 'busy', 'charming', 'clever', 'cool', 'compassionate', 'competent', 'confident', 'cranky', 'crazy',
  'dazzling', 'determined', 'distracted', 'dreamy', 'eager', 'ecstatic', 'elastic', 'elated', 'elegant', 'eloquent',
  'epic', 'fervent', 'festive', 'flamboyant', 'focused', 'friendly', 'frosty', 'gallant', 'gifted', 'goofy',
  'gracious', 'happy', 'hardcore', 'heuristic', 'hopeful', 'hungry', 'infallible', 'inspiring', 'jolly', 'jovial',
  'keen', 'kind', 'laughing', 'loving', 'lucid', 'magical', 'modest', 'musing', 'mystifying', 'naughty', 'nervous',
  'nice', 'nifty', 'nostalgic', 'objective', 'optimistic', 'peaceful', 'pedantic', 'pensive', 'practical',
  'priceless', 'quirky', 'quizzical', 'relaxed', 'reverent', 'romantic', 'sad', 'serene', 'sharp', 'silly',
  'sleepy', 'stoic', 'strange', 'stupefied', 'suspicious', 'sweet', 'tender', 'thirsty', 'trusting', 'upbeat',
  'vibrant', 'vigilant', 'vigorous', 'wizardly', 'wonderful', 'xenodochial', 'youthful', 'zealous', 'zen',
];
const RIGHT = [
  'agnesi', 'albattani', 'allen', 'almeida', 'archimedes', 'ardinghelli', 'aryabhata', 'austin', 'babbage',
  'banach', 'bardeen', 'bartik', 'bassi', 'bell', 'bhabha', 'blackwell', 'bohr', 'booth', 'borg', 'bose', 'boyd',
  'brahmagupta', 'brattain', 'brown', 'carson', 'chandrasekhar', 'curie', 'darwin', 'davinci', 'dijkstra',
  'driscoll', 'dubinsky', 'easley', 'einstein', 'elion', 'engelbart', 'euclid', 'euler', 'fermat', 'fermi',
  'feynman', 'franklin', 'galileo', 'gates', 'goldberg', 'goldstine', 'goodall', 'hamilton', 'hawking',
  'heisenberg', 'hermann', 'hodgkin', 'hopper', 'hypatia', 'jackson', 'jang', 'jennings', 'johnson', 'kalam',
  'keller', 'kepler', 'khorana', 'kilby', 'knuth', 'kowalevski', 'lalande', 'lamarr', 'leakey', 'leavitt',
  'lovelace', 'lumiere', 'mayer', 'mccarthy', 'mcclintock', 'meitner', 'mendel', 'mirzakhani', 'montalcini',
  'morse', 'napier', 'newton', 'nobel', 'noether', 'pascal', 'pasteur', 'payne', 'perlman', 'pike', 'poincare',
  'ptolemy', 'raman', 'ramanujan', 'ride', 'ritchie', 'rosalind', 'sammet', 'shannon', 'shockley', 'sinoussi',
  'stonebraker', 'swanson', 'tesla', 'thompson', 'torvalds', 'turing', 'varahamihira', 'visvesvaraya', 'wescoff',
  'wiles', 'williams', 'wilson', 'wing', 'wozniak', 'wright', 'yalow', 'yonath',
];

export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; i < 20; i++) {
    const name = `${LEFT[crypto.randomInt(LEFT.length)]}_${RIGHT[crypto.randomInt(RIGHT.length)]}`;
    if (name === 'boring_wozniak') continue; // Steve Wozniak is not boring (as in Docker)
    const candidate = i < 10 ? name : `${name}${crypto.randomInt(10)}`;
    if (!taken(candidate)) return candidate;
  }
  return `berth_${crypto.randomBytes(6).toString('hex')}`;
}
