// A root hook plugin (.mocharc.cjs requires it): with BERTH_TEST_ORDER=reverse or shuffle[:SEED], every suite runs its
// tests and sub-suites in that order instead of the written one, so a test that passes only because another ran
// before it shows up. Tests must pass in any order (each sets up what it needs).
export const mochaHooks = {
  beforeAll(this: Mocha.Context) {
    const how = process.env.BERTH_TEST_ORDER;
    if (!how) return;
    const [mode, seedText] = how.split(':');
    if (mode !== 'reverse' && mode !== 'shuffle') throw new Error(`BERTH_TEST_ORDER=${how}: reverse or shuffle[:SEED]`);
    let seed = Number(seedText ?? Math.floor(Math.random() * 2 ** 31)) >>> 0;
    if (mode === 'shuffle') console.log(`  (tests in a shuffled order: BERTH_TEST_ORDER=shuffle:${seed} repeats it)`);
    // mulberry32: a small seeded generator, so an order that fails can be run again.
    const random = () => {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
    };
    const reorder = <T>(items: T[]) => {
      if (mode === 'reverse') items.reverse();
      else
        for (let i = items.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [items[i], items[j]] = [items[j], items[i]];
        }
    };
    const visit = (suite: Mocha.Suite) => {
      reorder(suite.tests);
      reorder(suite.suites);
      suite.suites.forEach(visit);
    };
    // Runs before the root suite's tests are taken: mocha reads the arrays after its before-all hooks.
    visit(this.test!.parent!);
  },
};
