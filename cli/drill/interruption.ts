/** The exit code of a process ended by a signal, as shells report it (128 + the signal's number). */
const EXIT_CODES: Readonly<Partial<Record<NodeJS.Signals, number>>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Ctrl-C (SIGINT) and SIGTERM during a drill: say so, run the clean-ups registered so far (newest first: abort the
 * run, stop the gateway and workload processes, remove the temp dir) and exit 130 (143 for SIGTERM). Meanwhile the
 * drill's own flow is parked (`guard`), so it neither reports on a half-torn-down cloud nor cleans up twice. A second
 * signal exits at once.
 */
export class DrillInterruption {
  private readonly cleanUps: (() => Promise<void> | void)[] = [];
  private interrupted = false;
  private readonly listener = (signal: NodeJS.Signals) => void this.interrupt(signal);

  constructor(
    private readonly say: (line: string) => void,
    private readonly exit: (code: number) => never = (code) => process.exit(code),
  ) {
    process.on('SIGINT', this.listener);
    process.on('SIGTERM', this.listener);
  }

  /** Runs `cleanUp` if the drill is interrupted from now on. */
  onInterrupt(cleanUp: () => Promise<void> | void): void {
    this.cleanUps.push(cleanUp);
  }

  /** `work`'s result; once interrupted, never settles (the clean-up exits the process), whatever `work` does. */
  async guard<T>(work: Promise<T>): Promise<T> {
    const parked = new Promise<never>(() => undefined);
    try {
      const result = await work;
      return this.interrupted ? await parked : result;
    } catch (error) {
      if (this.interrupted) return await parked;
      throw error;
    }
  }

  /** The drill ended on its own: signals get their default meaning again. */
  dispose(): void {
    process.off('SIGINT', this.listener);
    process.off('SIGTERM', this.listener);
  }

  private async interrupt(signal: NodeJS.Signals): Promise<void> {
    const code = EXIT_CODES[signal] ?? 130;
    if (this.interrupted) {
      this.say(`${signal} again: exiting without cleaning up`);
      this.exit(code);
    }
    this.interrupted = true;
    // The run's work is being torn down under it: its late failures are expected, not crashes.
    process.on('unhandledRejection', () => undefined);
    process.on('uncaughtException', () => undefined);
    this.say(`interrupted, cleaning up (${signal})`);
    for (const cleanUp of [...this.cleanUps].reverse()) {
      try {
        await cleanUp();
      } catch (error) {
        this.say(`  clean-up step failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.say('cleaned up');
    this.exit(code);
  }
}
