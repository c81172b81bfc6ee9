// Mocha's configuration. Files come from the command line (scripts/test.sh and npm test default to all of test/).
// Under CI=true a pending (skipped) test fails the run: CI must not pass by skipping what it could not run
// (test/helpers/deps.ts names what is missing and how to install it).
const strict = process.env.CI === 'true' || process.env.CI === '1';

module.exports = {
  // test/helpers/order.ts: BERTH_TEST_ORDER=reverse or shuffle[:SEED] runs the tests in another order.
  require: ['esbuild-register', 'test/helpers/order.ts', 'test/helpers/suite-times.ts'],
  extension: ['ts'],
  timeout: 60000,
  exit: true,
  'forbid-pending': strict,
};
