/** A command line the CLI does not understand: exit status 2, with the usage on stderr. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  /** The command whose usage to show (undefined: the top-level usage). */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}
