/**
 * Skip saying why, also in the VM: for skips about how the suite runs (once per npm test, a host
 * tool), not about a missing device. From a `before` hook, every test of the suite gets the reason.
 * This file loads nothing of the library, so test/70 can use it.
 */
export function skipBecause(ctx: Mocha.Context, reason: string): never {
  const runnable = ctx.test as (Mocha.Runnable & { type?: string }) | undefined;
  const suffix = ` (skipped: ${reason})`;
  if (runnable?.type === 'hook' && /^"before all"/.test(runnable.title)) {
    const all = (suite: Mocha.Suite): Mocha.Test[] => [...suite.tests, ...suite.suites.flatMap(all)];
    for (const t of all(runnable.parent!)) t.title += suffix;
  } else {
    const test = runnable?.type === 'hook' ? ctx.currentTest : runnable;
    if (test) test.title += suffix;
  }
  ctx.skip();
}
