// A root hook plugin (.mocharc.cjs requires it): under CI=true or BERTH_SUITE_TIMES=1 the run ends with the slowest
// top-level suites' wall time, their hooks included (a VM's boot, an image build, a set-up's pulls), which mocha's
// per-test durations leave out — where a run's minutes go.
const times: { title: string; file: string; ms: number }[] = [];
const wanted = () => ['true', '1'].includes(process.env.CI ?? '') || process.env.BERTH_SUITE_TIMES === '1';

export const mochaHooks = {
  beforeAll(this: Mocha.Context) {
    if (!wanted()) return;
    for (const suite of this.test!.parent!.suites) {
      let t0 = 0;
      // First of its before-all hooks and last of its after-all hooks: the suite's whole time.
      suite.beforeAll(() => {
        t0 = Date.now();
      });
      const hooks = (suite as unknown as { _beforeAll: unknown[] })._beforeAll;
      hooks.unshift(hooks.pop());
      suite.afterAll(() => {
        times.push({ title: suite.title, file: suite.file ?? '', ms: Date.now() - t0 });
      });
    }
  },
  afterAll() {
    if (!wanted() || !times.length) return;
    const total = times.reduce((s, t) => s + t.ms, 0);
    console.log(`\n  slowest suites, hooks included (${(total / 60_000).toFixed(1)} min in ${times.length} suites):`);
    for (const t of [...times].sort((a, b) => b.ms - a.ms).slice(0, 25))
      console.log(
        `  ${(t.ms / 1000).toFixed(1).padStart(7)} s  ${t.title}  (${t.file.replace(/^.*?\/test\//, 'test/')})`,
      );
  },
};
