package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/atollhq/atoll/drift"
)

// errDrifted makes `atoll drift` exit 2 when a project drifted, so a cron job or
// CI pipeline can alert on it.
var errDrifted = errors.New("drift detected")

// runDrift is `atoll drift`: one drift check now, of a local directory (see
// runLocalDrift) or, with --drift-repos, of those GitHub repositories with the
// same flags as `atoll server`; then issues are opened, updated and closed as
// the server would. Exit 0: in sync; 2: drift; 1: a check failed.
func runDrift(args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if isLocalDrift(args, getenv) {
		return runLocalDrift(ctx, args, stdout, stderr)
	}
	_, a, err := startApp(ctx, "atoll drift", args, stderr, getenv, func(o *serverOptions) error {
		if o.DriftRepos == "" {
			return errors.New("--drift-repos is required")
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer a.Close()
	drifted, failed := 0, 0
	for _, repo := range a.driftRepos {
		results, err := a.drift.CheckRepo(ctx, repo)
		if err != nil {
			fmt.Fprintf(stdout, "%s: check failed: %v\n", repo.FullName(), err)
			failed++
			continue
		}
		for _, r := range results {
			line := fmt.Sprintf("%s %s (%s) at %.7s: %s", repo.FullName(), r.Project, r.Workspace, r.SHA, r.Status)
			switch r.Status {
			case drift.Drifted:
				drifted++
				line += fmt.Sprintf(" — %d changed outside Terraform, %d in Git but not applied", len(r.Drift), len(r.Pending))
				if r.IssueURL != "" {
					line += " — " + r.IssueURL
				}
			case drift.Failed:
				failed++
				line += "\n" + r.Error
			}
			fmt.Fprintln(stdout, line)
		}
	}
	switch {
	case failed > 0:
		return fmt.Errorf("%d drift check(s) failed", failed)
	case drifted > 0:
		return errDrifted
	}
	return nil
}
