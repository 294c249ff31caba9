package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/atollhq/atoll/testdrive"
)

// runTestdrive is `atoll testdrive`: the product end to end on this machine.
func runTestdrive(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("atoll testdrive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	exit := fs.Bool("exit", false, "stop after the walkthrough instead of staying up")
	tf := fs.String("terraform", "", "terraform binary (default: terraform on PATH)")
	port := fs.Int("port", 0, "port for Atoll (default: a free port)")
	dir := fs.String("dir", "", "working directory (default: a temporary one, removed afterwards)")
	verbose := fs.Bool("verbose", false, "show Atoll's server log")
	provider := fs.String("sandbox-provider", "", "terraform-provider-sandbox binary (default: beside the atoll binary, where `make testdrive` builds it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *provider == "" {
		if exe, err := os.Executable(); err == nil {
			*provider = filepath.Join(filepath.Dir(exe), "terraform-provider-sandbox")
		}
	}
	if err := absPaths(tf, provider); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logOut := io.Discard
	if *verbose {
		logOut = stderr
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	start := time.Now()
	err := testdrive.Run(ctx, testdrive.Options{
		Out:             stdout,
		Dir:             *dir,
		Stay:            !*exit,
		Env:             os.Environ(),
		Terraform:       *tf,
		SandboxProvider: *provider,
		StartAtoll: func(ctx context.Context, t testdrive.Target) (string, func(), error) {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
			if err != nil {
				return "", nil, fmt.Errorf("listen: %w", err)
			}
			url := "http://" + ln.Addr().String()
			o := serverOptions{
				Port: ln.Addr().(*net.TCPAddr).Port, AtollURL: url, DataDir: t.DataDir, GHUser: t.BotUser, GHToken: t.Token,
				GHWebhookSecret: t.WebhookSecret, GHHostname: "github.com", GHAPIURL: t.APIURL, RepoAllowlist: "*",
				LockingDBType: "boltdb", TFBinary: *tf, LogLevel: "info", LogFormat: "text", MaxParallelJobs: 4, ReconcileEvery: time.Minute, GHTimeout: time.Minute,
				DriftRepos: t.DriftRepos, DriftSchedule: "@every 1h", DriftLabel: "atoll-drift",
			}
			if err := os.MkdirAll(filepath.Dir(t.DataDir), 0o700); err != nil {
				ln.Close()
				return "", nil, err
			}
			if t.ReposYAML != "" {
				o.RepoConfig = filepath.Join(filepath.Dir(t.DataDir), "repos.yaml")
				if err := os.WriteFile(o.RepoConfig, []byte(t.ReposYAML), 0o600); err != nil {
					ln.Close()
					return "", nil, err
				}
			}
			a, err := build(ctx, o, logger, t.Env, nil)
			if err != nil {
				ln.Close()
				return "", nil, err
			}
			srvCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				if err := a.Serve(srvCtx, ln, io.Discard); err != nil {
					logger.Error("atoll server", "error", err)
				}
			}()
			return url, func() { cancel(); <-done; a.Close() }, nil
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "(walkthrough took %s)\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}
