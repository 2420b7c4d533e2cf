// Package tour is `ectool lab tour`: it runs the real ectool binary against
// a running lab (package lab), one step after another, and judges each
// step from what the commands said in JSON (their -o json report, or their
// JSON Lines stream), never from their text.
//
// Start with Run: it takes a started *lab.Site, the binary to run and a
// Narrator that hears every command and verdict as it happens (cmd/ectool
// prints them: the walk-through), and returns a report with one check per
// step (tour.<step>, listed in docs/checks.md).
//
// Adding a step is one entry in the table of Steps (steps.go) and a
// judgement function beside the other steps of its component
// (steps_mqtt.go, steps_bus.go, steps_modbus.go, ...): the entry's Run
// runs commands through the *Tour it is given (Tour.Run appends -o json to
// every command, so a step cannot end up judging text) and returns a
// Verdict. A step whose lab component is off returns a Verdict with Skip.
package tour
