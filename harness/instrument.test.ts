import { describe, expect, it } from 'vitest';
import { hasCode } from '../driver/errors.js';
import { createSimHarness } from './sim-harness.js';
import { TraceRecorder } from './trace.js';

describe('faults', () => {
  it('fails a named operation once, then lets it through', async () => {
    const { host, faults } = await createSimHarness();
    faults.inject('blockDevices.listLoops');
    const first = await host.blockDevices.listLoops().catch((e: unknown) => e);
    expect(hasCode(first, 'Internal')).toBe(true);
    expect(await host.blockDevices.listLoops()).toEqual([]);
  });

  it('fails always, or only for matching arguments', async () => {
    const { host, faults } = await createSimHarness();
    faults.inject('files.exists', {
      times: 'always',
      match: 'secret',
      error: { code: 'Busy', message: 'Failed to stat: busy' },
    });
    await expect(host.files.exists('/secret')).rejects.toMatchObject({
      code: 'Busy',
      message: 'Failed to stat: busy',
    });
    await expect(host.files.exists('/secret')).rejects.toMatchObject({ code: 'Busy' });
    expect(await host.files.exists('/public')).toBe(false);
    faults.clear();
    expect(await host.files.exists('/secret')).toBe(false);
  });

  it('rejects an unknown operation name with the known ones', async () => {
    const { faults } = await createSimHarness();
    expect(() => faults.inject('mounts.explode')).toThrow(/unknown operation 'mounts.explode'/);
  });
});

describe('tracing', () => {
  it("records a call with its result, and an injected failure as the call's error", async () => {
    const { host, faults, trace } = await createSimHarness();
    const recorder = new TraceRecorder();
    trace(recorder);
    await recorder.within({ step: 'one' }, () => host.files.exists('/nothing'));
    faults.inject('files.exists');
    await recorder.within({ step: 'two' }, () => host.files.exists('/x')).catch(() => undefined);
    trace(undefined);
    await host.files.exists('/unrecorded');
    expect(recorder.entries).toEqual([
      { step: 'one', op: 'files.exists', args: ['/nothing'], result: false },
      {
        step: 'two',
        op: 'files.exists',
        args: ['/x'],
        error: { code: 'Internal', message: 'Failed to files.exists: injected fault' },
      },
    ]);
  });

  it('leaves the bare host untraced and unfaulted', async () => {
    const { bare, faults, trace } = await createSimHarness();
    const recorder = new TraceRecorder();
    trace(recorder);
    faults.inject('files.exists', { times: 'always' });
    expect(await bare.files.exists('/x')).toBe(false);
    expect(recorder.entries).toEqual([]);
  });
});
