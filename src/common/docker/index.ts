// Docker's formats and rules, written once for everything that speaks Docker here: the engine, the berth CLI and
// the extension import them from this module, which imports none of them (nothing but Node's own modules and
// re2js, the linear-time regexp engine of filters.ts).
//   units.ts     go-units: human sizes and durations, Go's %g, byte sizes from flags, docker's timestamps
//   platform.ts  GOARCH names
//   stdcopy.ts   the 8-byte stream framing of output without a TTY
//   detach.ts    detach-key sequences
//   filters.ts   how filter values match (labels, filters.Match, path.Match), in linear time
//   bool.ts      booleans in query parameters and filters
//   duration.ts  Go's time.Duration in nanoseconds: parse and String() (healthchecks, build history)
//   dockerignore.ts  .dockerignore: its patterns and Go's matching rules (the build context)
export * from './units';
export * from './platform';
export * from './stdcopy';
export * from './detach';
export * from './filters';
export * from './bool';
export * from './duration';
export * from './dockerignore';
