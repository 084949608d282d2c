// What every stand-in does as a process: timestamped log lines on stdout, a start-time refusal
// that exits 1 with its message alone (as the real programs die on bad config), and SIGTERM or
// SIGINT ending it within about a second, as the lab's `docker stop` grace period expects.

export function log(line: string): void {
    process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

/** A refusal at start the real program would die with: the message says it all. */
export class StartError extends Error {}

/** Runs the stand-in's main; an expected refusal (`isExpected`, or a StartError or bad argument) logs its message, anything else its stack. */
export function runStandin(main: () => Promise<void>, isExpected: (e: unknown) => boolean = () => false): void {
    main().catch((e) => {
        const expected = isExpected(e) || e instanceof StartError || String(e?.code).startsWith("ERR_PARSE_ARGS");
        log(`fatal: ${expected ? e.message : (e?.stack ?? e)}`);
        process.exit(1);
    });
}

/**
 * On SIGTERM or SIGINT: `close` (requests in flight finish), then exit 0, after 900 ms at the latest.
 * With `quitGraceMs`, SIGQUIT is nginx's graceful shutdown, as APISIX images stop (`docker stop`
 * sends their STOPSIGNAL, SIGQUIT): the same `close`, waited for up to worker_shutdown_timeout.
 */
export function exitOnSignals(close: () => Promise<unknown>, quitGraceMs?: number): void {
    let stopping = false;
    const shutdown = (signal: string, graceMs: number) => {
        if (stopping) return;
        stopping = true;
        log(`${signal}: shutting down`);
        void Promise.race([close(), new Promise((r) => setTimeout(r, graceMs))]).then(() => {
            log("exit");
            process.exit(0);
        });
    };
    process.once("SIGTERM", () => shutdown("SIGTERM", 900));
    process.once("SIGINT", () => shutdown("SIGINT", 900));
    if (quitGraceMs !== undefined) process.once("SIGQUIT", () => shutdown("SIGQUIT (graceful)", quitGraceMs));
}
