// What the API renders from Docker's formats (src/common/docker): container status and pull progress text.
import * as assert from 'node:assert/strict';
import type { ContainerRecord } from '../../../src/engine/containers';
import { statusText } from '../../../src/engine/api/routes/containers';
import { progressBar } from '../../../src/engine/api/routes/images';

const HOUR = 3600_000;

describe('engine API: text rendered with Docker formats', () => {
  it("states a container's age by go-units' HumanDuration (years from the whole hours)", () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    const exited = (agoMs: number) =>
      ({
        state: { status: 'exited', exitCode: 3, startedAt: '', finishedAt: new Date(now - agoMs).toISOString() },
      }) as unknown as ContainerRecord;
    assert.equal(statusText(exited(5 * HOUR), now), 'Exited (3) 5 hours ago');
    // 17519.75 hours: Go rounds to 17520 hours (two years' worth) to pick the unit, then counts whole hours.
    assert.equal(statusText(exited(2 * 8760 * HOUR - HOUR / 4), now), 'Exited (3) 1 years ago');
  });

  it("prints progress sizes by go-units' HumanSize, up to YB", () => {
    assert.equal(progressBar(1_234_567, 0), ' 1.235MB');
    assert.equal(progressBar(5e18, 0), '     5EB');
  });
});
