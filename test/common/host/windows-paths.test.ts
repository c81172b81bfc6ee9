// Windows paths as Berth's WSL guest sees them: drive letters, UNC names of WSL distributions, forward slashes,
// trailing separators, case, long-name prefixes, and the paths it cannot reach.
import * as assert from 'node:assert/strict';
import {
  isWindowsPath,
  splitWindowsBind,
  toWslPath,
  UnreachablePathError,
} from '../../../src/common/host/windows-paths';

describe('common/host: Windows paths in the WSL guest (pure)', () => {
  const drives = { root: '/mnt', distro: 'berth-default' };

  it('maps drive letters to the automount root, the letter lower-case, the rest as written', () => {
    assert.equal(toWslPath('C:\\Users\\Jane Doe\\src', drives), '/mnt/c/Users/Jane Doe/src');
    assert.equal(toWslPath('c:\\Users\\me', drives), '/mnt/c/Users/me');
    assert.equal(toWslPath('D:\\Work\\Repo', drives), '/mnt/d/Work/Repo');
    assert.equal(toWslPath('C:\\', drives), '/mnt/c');
    assert.equal(toWslPath('C:', drives), '/mnt/c');
    assert.equal(toWslPath('C:\\a\\b', { root: '/drives/' }), '/drives/c/a/b');
  });

  it('takes forward slashes, doubled and trailing separators, . and .. (never above the drive)', () => {
    assert.equal(toWslPath('C:/Users/me/project', drives), '/mnt/c/Users/me/project');
    assert.equal(toWslPath('C:\\Users\\me\\project\\', drives), '/mnt/c/Users/me/project');
    assert.equal(toWslPath('C:/Users/me/project//', drives), '/mnt/c/Users/me/project');
    assert.equal(toWslPath('C:\\Users\\\\me\\.\\src\\..\\p', drives), '/mnt/c/Users/me/p');
    assert.equal(toWslPath('C:\\..\\..\\Windows', drives), '/mnt/c/Windows');
    assert.equal(toWslPath('C:\\Users/me\\mixed/seps', drives), '/mnt/c/Users/me/mixed/seps');
  });

  it('maps \\\\wsl$ and \\\\wsl.localhost names of its own distribution to its own files, whatever their case', () => {
    assert.equal(toWslPath('\\\\wsl$\\berth-default\\home\\me\\p', drives), '/home/me/p');
    assert.equal(toWslPath('\\\\wsl.localhost\\Berth-Default\\var\\data\\', drives), '/var/data');
    assert.equal(toWslPath('//wsl$/berth-default/srv', drives), '/srv');
    assert.equal(toWslPath('\\\\WSL$\\berth-default', drives), '/');
  });

  it('reads Win32 long names (\\\\?\\C:\\…, \\\\?\\UNC\\…)', () => {
    assert.equal(toWslPath('\\\\?\\C:\\Users\\me\\very\\long', drives), '/mnt/c/Users/me/very/long');
    assert.equal(toWslPath('\\\\?\\UNC\\wsl$\\berth-default\\tmp', drives), '/tmp');
  });

  it('refuses network shares and other distributions, saying what to do', () => {
    assert.throws(
      () => toWslPath('\\\\fileserver\\team\\src', drives),
      (e: Error) => {
        assert.ok(e instanceof UnreachablePathError);
        assert.match(e.message, /^\\\\fileserver\\team\\src is on a network share, which Berth's VM cannot see/);
        return true;
      },
    );
    assert.throws(
      () => toWslPath('\\\\wsl$\\Ubuntu\\home\\me\\p', drives),
      /is in the WSL distribution "Ubuntu", which Berth's VM \(berth-default\) cannot see: use a folder on a Windows drive/,
    );
  });

  it('leaves Linux paths alone (//x is a Linux path, not a share)', () => {
    for (const p of ['/home/me/p', '//srv/data', 'relative\\name', 'vol']) assert.equal(toWslPath(p, drives), p, p);
    assert.equal(isWindowsPath('//srv/data'), false);
    assert.equal(isWindowsPath('C:\\x'), true);
    assert.equal(isWindowsPath('c:/x'), true);
    assert.equal(isWindowsPath('\\\\srv\\share'), true);
    assert.equal(isWindowsPath('data:/data'), false);
  });

  it('splits a -v spec at the colon after the Windows path', () => {
    assert.deepEqual(splitWindowsBind('C:\\Users\\me\\p:/src:ro'), { source: 'C:\\Users\\me\\p', rest: ':/src:ro' });
    assert.deepEqual(splitWindowsBind('c:/p:/src'), { source: 'c:/p', rest: ':/src' });
    assert.deepEqual(splitWindowsBind('\\\\wsl$\\d\\x:/x'), { source: '\\\\wsl$\\d\\x', rest: ':/x' });
    assert.deepEqual(splitWindowsBind('\\\\?\\C:\\p:/p'), { source: '\\\\?\\C:\\p', rest: ':/p' });
    assert.deepEqual(splitWindowsBind('C:\\only'), { source: 'C:\\only', rest: '' });
    assert.equal(splitWindowsBind('/home/me:/src'), undefined);
    assert.equal(splitWindowsBind('data:/data'), undefined);
  });
});
