/**
 * CallThreadPool.sequence against test:///default: the steps of one operation in one round
 * trip, with the rules that keep handles freed whatever fails (see NativeStep in ffi.ts).
 */
import { threadId as mainThreadId } from 'node:worker_threads';

import { CallThreadPool, stepRef, type NativePointer, type NativeStep } from '../src/ffi';
import { TEST_URI } from './support/fixtures';

const VIR_ERR_NO_DOMAIN = 42;

describe('CallThreadPool.sequence', () => {
  let pool: CallThreadPool;
  let conn: NativePointer;

  beforeAll(async () => {
    pool = new CallThreadPool({ threads: 2 });
    const opened = await pool.sequence([{ fn: 'virConnectOpen', args: [TEST_URI], check: 'null' }]);
    conn = opened.results[0]!.ret as NativePointer;
  });

  afterAll(async () => {
    await pool.sequence([{ fn: 'virConnectClose', args: [conn], check: 'none' }]);
    await pool.close();
  });

  const lookup = (name: string): NativeStep => ({
    fn: 'virDomainLookupByName',
    args: [conn, name],
    check: 'null',
  });
  const free = (step: number): NativeStep => ({
    fn: 'virDomainFree',
    args: [stepRef(step)],
    check: 'none',
    when: 'always',
  });

  it('passes a handle from one step to the next and frees it, on a call thread', async () => {
    const { results, failedAt, threadId } = await pool.sequence([
      lookup('test'),
      { fn: 'virDomainGetName', args: [stepRef(0)], check: 'null' },
      { fn: 'virDomainGetInfo', args: [stepRef(0), {}], check: 'negative' },
      free(0),
    ]);
    expect(failedAt).toBe(-1);
    expect(threadId).not.toBe(mainThreadId);
    expect(results.map((r) => r.ran)).toEqual([true, true, true, true]);
    expect(typeof results[0]!.ret).toBe('bigint');
    expect(results[1]!.ret).toBe('test');
    // The _Out_ struct comes back filled in: the default domain runs with 2 vCPUs.
    expect(results[2]!.args[1]).toMatchObject({ state: 1, nrVirtCpu: 2 });
    expect(results[3]!.ret).toBe(0);
  });

  it('stops at a failed step, with its error, and runs no step that needs its handle', async () => {
    const { results, failedAt } = await pool.sequence([
      lookup('no-such-domain'),
      { fn: 'virDomainGetName', args: [stepRef(0)], check: 'null' },
      free(0),
    ]);
    expect(failedAt).toBe(0);
    expect(results[0]).toMatchObject({ ran: true, failed: true, ret: null });
    expect(results[0]!.error).toMatchObject({ code: VIR_ERR_NO_DOMAIN });
    // The name needs the lookup; so does the free, 'always' or not: there is nothing to free.
    expect(results[1]!.ran).toBe(false);
    expect(results[2]!.ran).toBe(false);
  });

  it("runs 'failed' steps only after a failure, and 'always' steps either way", async () => {
    const steps = (startFails: boolean): NativeStep[] => [
      lookup('test'),
      // Starting the running default domain fails (operation invalid); its info does not.
      startFails
        ? { fn: 'virDomainCreate', args: [stepRef(0)], check: 'negative' }
        : { fn: 'virDomainIsActive', args: [stepRef(0)], check: 'negative' },
      { fn: 'virDomainGetName', args: [stepRef(0)], check: 'null', when: 'failed' },
      { fn: 'virDomainGetInfo', args: [stepRef(0), {}], check: 'negative' },
      free(0),
    ];
    const failing = await pool.sequence(steps(true));
    expect(failing.failedAt).toBe(1);
    expect(failing.results.map((r) => r.ran)).toEqual([true, true, true, false, true]);
    expect(failing.results[2]!.ret).toBe('test');

    const passing = await pool.sequence(steps(false));
    expect(passing.failedAt).toBe(-1);
    expect(passing.results.map((r) => r.ran)).toEqual([true, true, false, true, true]);
  });

  it('counts a step koffi refuses as failed, and still frees the handle after it', async () => {
    const { results, failedAt } = await pool.sequence([
      lookup('test'),
      // A string where libvirt wants an unsigned int: koffi throws before calling.
      { fn: 'virDomainGetXMLDesc', args: [stepRef(0), 'not a number'], check: 'null' },
      free(0),
    ]);
    expect(failedAt).toBe(1);
    expect(results[1]).toMatchObject({ ran: true, failed: true, error: { code: -1 } });
    expect(results[1]!.error!.message).not.toBe('');
    expect(results[2]).toMatchObject({ ran: true, ret: 0 });
  });

  it('reads an _Out_ parameter of an earlier step through a path', async () => {
    const { results, failedAt } = await pool.sequence([
      { fn: 'virConnectListAllDomains', args: [conn, [null], 0], check: 'negative' },
      { fn: '$takePointerArray', args: [stepRef(0, [1, 0]), stepRef(0)], check: 'none' },
    ]);
    expect(failedAt).toBe(-1);
    const pointers = results[1]!.ret as NativePointer[];
    expect(pointers).toHaveLength(results[0]!.ret as number);
    expect(pointers.length).toBeGreaterThan(0);
    const names = await pool.sequence(
      pointers.flatMap((dom): NativeStep[] => [
        { fn: 'virDomainGetName', args: [dom], check: 'null', when: 'always' },
        { fn: 'virDomainFree', args: [dom], check: 'none', when: 'always' },
      ]),
    );
    expect(names.results.filter((_, i) => i % 2 === 0).map((r) => r.ret)).toContain('test');
  });
});
