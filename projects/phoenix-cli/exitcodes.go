package phoenixcli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phoenix-platform/phoenix/projects/phoenix-cli/internal/client"
)

// ExitUsage is the status of a command line the CLI refuses before doing
// anything: an unknown command or flag, a wrong number of arguments. The
// other codes are beside ExitError (cmd_experiment.go); docs/ci.md and
// `phoenix help exit-codes` list them all (docs/decisions/0027).
const ExitUsage = 4

// exitCodesHelp is the `phoenix help exit-codes` topic; TestExitCodesHelp
// checks that it names every code ExitCode can return.
const exitCodesHelp = `Every phoenix command exits with one of these statuses, so scripts and CI
jobs can tell "the answer is no" from "there was no answer":

  0  ok: the command did what it was asked; a verdict succeeded (or was
     promoted); a config is valid; no recommendation crossed --fail-on.
  1  failed: a verdict failed (every candidate missed a criterion); the
     collector rejects a config (pipeline validate); recommend --fail-on
     was crossed; or the API refused the request (4xx: not found,
     forbidden, invalid input), or any other failure of the command.
  2  inconclusive: an experiment ended without enough data for a verdict
     (experiment run --wait). No data is never success.
  3  error: no answer. The API could not be reached or answered 5xx, a wait
     timed out or was interrupted, an experiment ended errored, cancelled or
     rolled back. experiment run --wait exits 3 for every problem that is
     not a verdict (the spec refused, the start refused), so 1 and 2 always
     mean a verdict.
  4  usage: an unknown command or flag, or the wrong number of arguments.

A plugin (phoenix-<name> on PATH, see 'phoenix plugin list') exits with its
own status, passed through unchanged.

In a CI job:

  phoenix experiment run -f experiment.yaml --wait --timeout 20m
  case $? in 0) echo promote ;; 1) echo "candidate failed" ;; 2) echo "no verdict: not enough data" ;; *) echo "Phoenix trouble" ;; esac
`

// exitCodesTopic is `phoenix help exit-codes`: a help topic (no Run), so it
// is listed under "Additional help topics".
func exitCodesTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "The exit statuses of every phoenix command (0 ok, 1 failed, 2 inconclusive, 3 error, 4 usage)",
		Long:  exitCodesHelp,
	}
}

// usageError is a refusal of the command line itself.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// markUsageErrors makes every argument check and flag error of the tree a
// usageError, so ExitCode maps them to ExitUsage.
func markUsageErrors(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return &usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(c)
}

// ExitCode is the process status for what a command returned (nil: 0).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var coded interface{ ExitCode() int }
	if errors.As(err, &coded) {
		return coded.ExitCode()
	}
	var usage *usageError
	if errors.As(err, &usage) || isCobraUsage(err) {
		return ExitUsage
	}
	var prob *client.Problem
	switch {
	case errors.Is(err, client.ErrUnreachable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ExitTrouble
	case errors.As(err, &prob) && prob.Status >= 500:
		return ExitTrouble
	}
	return ExitFailed
}

// isCobraUsage recognises the refusals cobra makes before any hook of ours
// runs (an unknown command at the root, a required flag missing).
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, s := range []string{"unknown command ", "required flag(s) ", "unknown flag: ", "unknown shorthand flag: "} {
		if strings.HasPrefix(msg, s) {
			return true
		}
	}
	return false
}

// Main runs the CLI with args: a plugin when args name one and no built-in
// command matches, else the command tree. It prints the error, if any, and
// returns the process status; only package main calls os.Exit.
func Main(root *cobra.Command, args []string, stderr io.Writer) int {
	if code, ran := runPlugin(root, args, stderr); ran {
		return code
	}
	markUsageErrors(root)
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
	}
	return ExitCode(err)
}
