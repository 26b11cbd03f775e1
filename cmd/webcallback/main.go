// Command webcallback is the whole service in one binary: the web server,
// migrations, a one-shot callback from the shell, statistics, the Asterisk
// config renderer and the sandbox PBX. Each subcommand lives in its own file
// and registers itself with register.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"webcallback/internal/config"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

// register adds a subcommand; called from init in the file that implements it.
func register(name, summary string, run func(ctx context.Context, args []string) error) {
	if _, dup := commands[name]; dup {
		panic("webcallback: duplicate command " + name)
	}
	commands[name] = command{name, summary, run}
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: webcallback <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-16s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'webcallback <command> --help' for its settings.\n")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "webcallback: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	// SIGINT/SIGTERM cancel ctx: every command shuts down gracefully on it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(report(os.Stderr, cmd.name, cmd.run(ctx, os.Args[2:])))
}

// exitError is an outcome with an exit status of its own (migrate --check's
// 3 for pending migrations).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// report prints err, one line per problem, each naming the command, and
// returns the exit status: 0 for none (or --help), 2 for a bad setting, an
// exitError's own, 1 for anything else (an unreachable database or AMI, a
// call that failed).
func report(w io.Writer, name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "webcallback %s: %s\n", name, line)
	}
	var bad *config.SettingError
	if errors.As(err, &bad) {
		return 2
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
