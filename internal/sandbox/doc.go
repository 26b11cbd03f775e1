// Package sandbox is the sandbox PBX: an AMI server that behaves like
// Asterisk 22 running webcallback's own dialplan (deploy/asterisk) against
// the test-number plan of docs/design.md §4. Tests, benchmarks and the default
// `webcallback serve` talk to it over a real socket with the real AMI
// client, so the production code path is the tested one.
//
// [New] makes a [Server] from a [Config] (the AMI user and secret, the time
// scale, the seed); [Server.Serve] answers AMI on a listener until
// [Server.Close]. The engine's Example (internal/callflow) runs a call on it.
//
// # What it reproduces
//
// From the transcripts in ../shared/fixtures/ami: the banner and framing;
// Login (plain, and MD5 after Challenge; a wrong secret gets "Authentication
// failed" after Asterisk's 1 s delay, then the connection is closed),
// Logoff, Ping, Events, Originate (async with OriginateResponse, and
// synchronous, whose response precedes the attempt's events), Hangup (by
// name or /regex/), Status, CoreShowChannels, CoreSettings, ListCommands,
// Command ("core show version|uptime|channels", and "core stop now" /
// "core restart now": Server.StopNow), "Permission denied" before
// login, "Invalid/unknown command" and "Missing action in request"; event
// classes per login (Events: header; FullyBooted only to sessions that take
// system events). Per call: the channels (PJSIP/<trunk>-%08x, the
// Originate's ChannelId as the caller leg's Uniqueid and the call's
// Linkedid), every dialplan step as Newexten with its VarSets, the
// WebCallback UserEvents, DialBegin/DialState/DialEnd, bridges,
// HangupRequest/SoftHangupRequest, Hangup with Cause/Cause-txt/TechCause,
// DeviceStateChange of the trunk, and the caller's CDR rows as Cdr events
// with the real field set and the Asterisk 12+ two-row split (fixtures
// README §9). Orders follow what real Asterisk produced; where it varies
// (OriginateResponse before or after the dialplan's first step) the seed
// picks. Timings (ringing, prompt lengths) are the fixtures'. Even
// Asterisk 22's ANSWEREDTIME quirk is kept: it counts from the caller's
// answer, not the callee's, so a 15 s bridge reads about 19.5 s (AnsweredMs);
// the talk time (TalkMs, which decides TimeoutHangup) is the dialplan's own,
// from the callee's answer.
//
// # Time
//
// [Config.TimeScale] 0.01 runs a 300 s call in 3 s. Each call keeps its own
// simulated clock: it starts at the wall-clock time the call starts and
// advances by exactly the durations the call waits. So CDR durations,
// AnsweredMs and Uniqueids read as in a real-time call however small the
// scale (timer jitter never shows), and CDR dates stay today's. TalkMs is
// in this simulated time too: a 10 s talk reads 10000 at any scale. Ping's
// Timestamp and Uptime are wall-clock; the call-rate limit counts per
// simulated second.
//
// # Deliberate differences
//
//   - Only the context webcallback, extension s, priority 1 exists: any
//     other (including the fixtures' webcallback-direct) is "Extension does
//     not exist.", as Asterisk answers for an unknown context.
//   - Originate to an Application is refused with an error (the engine
//     never does it), and a Channel other than PJSIP/<digits>@<trunk> gets
//     "Originate failed" at once (Asterisk would queue it, then fail).
//   - Trunk capacity (MaxChannels) and call rate (MaxCallsPerSecond) both
//     answer 503 at once (cause 34, CONGESTION), as an overloaded carrier.
//   - A never-answering number with no Dial timeout rings for 60 s, then
//     the far end sends 480 (cause 19).
//   - Not simulated: RTCP events, Local channels, security events, actions
//     beyond the ones above.
package sandbox
