// The celeriac command, run for its effect (import it to start the CLI); it exports nothing.
export {};
