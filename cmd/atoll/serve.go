package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/atollhq/atoll/cluster"
	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/drift"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/locking/bolt"
	lockredis "github.com/atollhq/atoll/locking/redis"
	"github.com/atollhq/atoll/notify"
	"github.com/atollhq/atoll/policy"
	"github.com/atollhq/atoll/redact"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/server"
	"github.com/atollhq/atoll/vcs"
	ghvcs "github.com/atollhq/atoll/vcs/github"
	"github.com/prometheus/client_golang/prometheus"
)

// runServer is `atoll server`.
func runServer(args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := hideEnvironment(); err != nil {
		return fmt.Errorf("hide the server's environment from child processes: %w", err)
	}
	o, app, err := startApp(ctx, "atoll server", args, stderr, getenv, requireWebhookSecret)
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", net.JoinHostPort(o.Bind, strconv.Itoa(o.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", o.Port, err)
	}
	tln, err := serveTLS(ln, o)
	if err != nil {
		ln.Close()
		return err
	}
	return app.Serve(ctx, tln, stdout)
}

// startApp parses the server flags (flag > ATOLL_* > ATLANTIS_* > --config
// file > default), runs check on them if given, and wires an app with a
// logger on stderr.
func startApp(ctx context.Context, name string, args []string, stderr io.Writer, getenv func(string) (string, bool),
	check func(*serverOptions) error) (serverOptions, *app, error) {
	o, pf, err := parseServerFlags(name, args, stderr, getenv)
	if err != nil {
		return o, nil, err
	}
	fromAtlantis, onCommandLine := pf.fromAtlantis, pf.onCommandLine
	if check != nil {
		if err := check(&o); err != nil {
			return o, nil, err
		}
	}
	level, _ := parseLevel(o.LogLevel)
	red := redact.New(o.secrets()...)
	logger := slog.New(red.Handler(logHandler(stderr, o.LogFormat, level)))
	if len(fromAtlantis) > 0 {
		logger.Info("settings read from Atlantis environment variables (ATOLL_* ones are unset)", "variables", strings.Join(fromAtlantis, ","))
	}
	if len(pf.atlantisAccepted) > 0 {
		logger.Info("Atlantis flags accepted without effect: Atoll already does what they ask (see docs/migrating-from-atlantis.md)", "flags", strings.Join(pf.atlantisAccepted, ","))
	}
	for _, f := range onCommandLine {
		logger.Warn("UNSAFE: a secret was given on the command line, where every process on this machine (terraform included) can read it from /proc; use the environment variable, --config or a file instead",
			"flag", "--"+f, "instead", "ATOLL_"+strings.ToUpper(strings.ReplaceAll(f, "-", "_")))
	}
	a, err := build(ctx, o, logger, os.Environ(), red)
	return o, a, err
}

// app is a wired Atoll server with what it must close.
type app struct {
	srv     *server.Server
	store   locking.Store
	opts    serverOptions
	log     *slog.Logger
	closers []func() error
	// drift is the drift detector; nil without --drift-repos.
	drift      *drift.Detector
	gh         *ghvcs.Client
	driftRepos []vcs.Repo
	// queue is the shared job queue (redis only); nil runs jobs in this process.
	queue *cluster.Queue
	// spool keeps webhooks while Redis is unreachable (redis only).
	spool *bolt.Store
	// notifier delivers notifications; nil without targets.
	notifier *notify.Notifier
}

// build wires concrete types from options. env is the environment terraform and
// git inherit, less Atoll's own settings and secrets. red learns the secrets
// read from files; nil makes one from o.
func build(ctx context.Context, o serverOptions, logger *slog.Logger, env []string, red *redact.Redactor) (*app, error) {
	if red == nil {
		red = redact.New(o.secrets()...)
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if o.AtollURL == "" {
		o.AtollURL = o.defaultURL()
	}
	token := o.GHToken
	if o.GHTokenFile != "" {
		b, err := os.ReadFile(o.GHTokenFile)
		if err != nil {
			return nil, fmt.Errorf("read --gh-token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		red.Add(token)
	}
	registry := prometheus.NewRegistry()
	ghMetrics, err := ghvcs.NewMetrics(registry)
	if err != nil {
		return nil, err
	}
	ghCfg := ghvcs.Config{Hostname: o.GHHostname, APIURL: o.GHAPIURL, User: o.GHUser, Token: token, Logger: logger,
		HTTPClient: githubHTTPClient(o.GHTimeout), Metrics: ghMetrics}
	if o.GHAppID != 0 {
		key, err := o.appKey()
		if err != nil {
			return nil, err
		}
		red.Add(string(key))
		ghCfg.AppID, ghCfg.AppKey, ghCfg.InstallationID = o.GHAppID, key, o.GHAppInstallID
	}
	secrets := append(o.secrets(), token)
	if len(ghCfg.AppKey) > 0 {
		secrets = append(secrets, string(ghCfg.AppKey))
	}
	gh, err := ghvcs.New(ghCfg)
	if err != nil {
		return nil, err
	}
	a := &app{opts: o, log: logger, gh: gh}
	var pullMutex server.PullMutex
	var jobArchive *cluster.JobArchive
	var deliveries server.DeliveryLog
	var cancels server.CancelBoard
	switch o.LockingDBType {
	case "redis":
		var tlsCfg *tls.Config
		if o.RedisTLS {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.RedisInsecure} //nolint:gosec // opt-in flag
		}
		st, err := lockredis.New(ctx, lockredis.Options{Addr: net.JoinHostPort(o.RedisHost, strconv.Itoa(o.RedisPort)),
			Password: o.RedisPassword, DB: o.RedisDB, TLS: tlsCfg})
		if err != nil {
			return nil, err
		}
		a.store = st
		if a.queue, err = cluster.NewQueue(ctx, st.Client(), cluster.QueueOptions{Prefix: st.Prefix(), Lease: o.ClusterLease,
			Workers: o.MaxParallelJobs, Logger: logger}); err != nil {
			st.Close()
			return nil, err
		}
		pullMutex = cluster.NewMutex(st.Client(), st.Prefix(), o.ClusterLease, logger)
		jobArchive = cluster.NewJobArchive(st.Client(), st.Prefix(), 7*24*time.Hour)
		// GitHub redelivers for a few days at most.
		deliveries = cluster.NewDeliveries(st.Client(), st.Prefix(), 72*time.Hour, logger)
		// A job cancelled on one replica may run on another.
		cancels = cluster.NewCancelBoard(st.Client(), st.Prefix(), 0)
		// Webhooks accepted while Redis is unreachable wait on local disk.
		sp, err := bolt.New(filepath.Join(o.DataDir, "spool.db"), bolt.Options{})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("open the webhook spool: %w", err)
		}
		a.spool = sp
		a.closers = append(a.closers, sp.Close)
	default:
		st, err := bolt.New(filepath.Join(o.DataDir, "atoll.db"), bolt.Options{})
		if err != nil {
			return nil, err
		}
		a.store = st
		// Deliveries are kept on disk: a captured delivery cannot run again
		// after a restart.
		deliveries = st.Deliveries(bolt.DeliveryOptions{})
	}
	a.closers = append(a.closers, a.store.Close)
	// terraform runs in each project's directory: a relative path must not be
	// taken relative to that.
	if err := absPaths(&o.TFBinary, &o.TFBinDir, &o.TofuBinary); err != nil {
		a.Close()
		return nil, err
	}
	shim, err := os.Executable()
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("find the atoll binary: %w", err)
	}
	tfKey, tofuKey, err := o.downloadKeys()
	if err != nil {
		a.Close()
		return nil, err
	}
	run, err := runner.New(runner.Config{DataDir: o.DataDir, Terraform: o.TFBinary, BinDir: o.TFBinDir,
		DefaultVersion: o.DefaultTFVersion, Env: env, Secrets: secrets, Logger: logger, StepTimeout: o.StepTimeout, KillGrace: o.KillGrace, Shim: shim, Tofu: o.TofuBinary, DefaultDistribution: o.DefaultDist,
		Download: o.TFDownload, TerraformDownloadURL: o.TFDownloadURL, TerraformDownloadKey: tfKey, TofuDownloadURL: o.TofuDownloadURL, TofuDownloadKey: tofuKey,
		// Downloads go through the proxy of the server's environment (HTTPS_PROXY, NO_PROXY).
		HTTPClient: &http.Client{Transport: http.DefaultTransport}})
	if err != nil {
		a.Close()
		return nil, err
	}
	repoCfg, err := o.repoConfig()
	if err != nil {
		a.Close()
		return nil, err
	}
	for _, w := range repoCfg.Warnings { // valid keys that have no effect in Atoll
		logger.Warn("--repo-config: " + w.Error())
	}
	checker, err := loadPolicies(ctx, repoCfg, o.RepoConfig)
	if err != nil {
		a.Close()
		return nil, err
	}
	var teams *config.TeamAllowlist
	if o.GHTeamAllowlist != "" {
		if teams, err = config.ParseTeamAllowlist(o.GHTeamAllowlist); err != nil {
			a.Close()
			return nil, fmt.Errorf("--gh-team-allowlist: %w", err)
		}
	}
	// Everything written to GitHub goes through one redaction step.
	out := redactedGitHub{Client: gh, red: red}
	if o.DriftRepos != "" {
		if a.driftRepos, err = resolveRepos(ctx, gh, splitList(o.DriftRepos)); err != nil {
			a.Close()
			return nil, err
		}
	}
	if o.DriftRepos != "" || repoCfg.HasDrift() {
		if a.drift, err = drift.New(drift.Config{Runner: run, Issues: out, Statuses: out, Locks: a.store, RepoCfg: repoCfg, GitToken: gh.GitToken,
			Label: o.DriftLabel, PageURL: o.AtollURL + "/drift", Registry: registry, Logger: logger}); err != nil {
			a.Close()
			return nil, err
		}
	}
	scfg := server.Config{Registry: registry, DriftRepos: a.driftRepos,
		AtollURL: o.AtollURL, RepoAllowlist: splitList(o.RepoAllowlist), MaxParallelJobs: o.MaxParallelJobs,
		Parser: &ghvcs.WebhookParser{Secret: []byte(o.GHWebhookSecret), Hostname: o.GHHostname, GitURL: gh.GitURL(), BotUser: o.GHUser},
		VCS:    out, Teams: gh, Merger: gh, PullCreator: out, Reverter: run, Branches: run, GitToken: gh.GitToken, Store: a.store, Runner: run, RepoCfg: repoCfg, TeamAllow: teams,
		APISecret: o.APISecret, Logger: logger, PullMutex: pullMutex, EnablePolicyChecks: o.EnablePolicies,
		AllowForkPRs: o.AllowForkPRs, CommandPermission: o.CommandPermission, AllowOpenWeb: o.AllowOpenWeb, EnableRegexpCmd: o.EnableRegexpCmd,
		Redact: red.Bytes,
	}
	if checker != nil {
		scfg.Policy = checker
	}
	if a.drift != nil {
		scfg.Drift, scfg.DriftAutoRemediate = a.drift, o.DriftRemediate
	}
	if a.queue != nil {
		scfg.Dispatcher = server.QueueDispatcher(a.queue)
		scfg.Jobs = jobArchive
	}
	scfg.Deliveries = deliveries
	scfg.Cancels = cancels
	scfg.Poller = out
	if o.GHAppID != 0 {
		scfg.Checks = out // check runs need a GitHub App; with a token, commit statuses only
	}
	if a.spool != nil {
		scfg.Spool = a.spool
	}
	if o.WebBasicAuth {
		scfg.WebUser, scfg.WebPassword = o.WebUsername, o.WebPassword
	}
	scfg.Ready = a.readyChecks(run)
	scfg.AuditRetention, scfg.LiveCommentDelay = o.AuditRetention, o.LiveCommentDelay
	o.applyAtlantis(&scfg)
	if urls := splitList(o.NotifyURLs); len(urls) > 0 || repoCfg.HasNotify() {
		var targets []notify.Target
		for _, u := range urls {
			t, _ := notify.ParseTarget(u) // validated with the options
			targets = append(targets, t)
		}
		if a.notifier, err = notify.New(notify.Options{Targets: targets, Logger: logger, Registry: registry}); err != nil {
			a.Close()
			return nil, err
		}
		scfg.Notifier, scfg.NotifyLockStaleAfter = a.notifier, o.NotifyLockStale
	}
	if a.srv, err = server.New(scfg); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// githubHTTPClient bounds every GitHub call: connecting, the TLS handshake,
// the wait for the first byte of the answer, and the whole call with its
// retries, so a hung GitHub cannot hold a job (and its worker) forever.
func githubHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: min(30*time.Second, timeout),
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   16,
			ForceAttemptHTTP2:     true,
		},
	}
}

// resolveRepos looks up each "owner/name" (its clone URL and default branch):
// a misspelt repo is a configuration error at start-up. The GitHub client
// already retries transient failures.
func resolveRepos(ctx context.Context, gh *ghvcs.Client, names []string) ([]vcs.Repo, error) {
	var out []vcs.Repo
	for _, n := range names {
		owner, name, _ := strings.Cut(n, "/")
		repo, err := gh.GetRepo(ctx, owner, name)
		if err != nil {
			return nil, fmt.Errorf("--drift-repos %s: %w", n, err)
		}
		out = append(out, repo)
	}
	return out, nil
}

// isLoopback reports whether addr only listens on the loopback interface.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// absPaths makes each non-empty path that names a directory or file (it has a
// separator) absolute; a bare name such as "terraform" stays a PATH lookup.
func absPaths(paths ...*string) error {
	for _, p := range paths {
		if *p == "" || !strings.ContainsRune(*p, filepath.Separator) {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("resolve %q: %w", *p, err)
		}
		*p = abs
	}
	return nil
}

// loadPolicies compiles repos.yaml's policy sets; relative paths are relative
// to the repos.yaml file. It returns nil when there are none.
func loadPolicies(ctx context.Context, cfg *config.ServerConfig, reposYAML string) (*policy.Checker, error) {
	if cfg.Policies == nil || len(cfg.Policies.PolicySets) == 0 {
		return nil, nil
	}
	var sets []policy.Set
	for _, ps := range cfg.Policies.PolicySets {
		path := ps.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(reposYAML), path)
		}
		sets = append(sets, policy.Set{Name: ps.Name, Path: path})
	}
	c, err := policy.Load(ctx, sets)
	if err != nil {
		return nil, fmt.Errorf("--repo-config policies: %w", err)
	}
	return c, nil
}

// Serve runs until ctx ends, then drains jobs for up to a minute.
func (a *app) Serve(ctx context.Context, ln net.Listener, stdout io.Writer) error {
	a.log.Info("atoll server listening", "addr", ln.Addr().String(), "url", a.opts.AtollURL, "locking", a.opts.LockingDBType)
	a.logSafety(ln.Addr())
	fmt.Fprintf(stdout, "atoll server listening on %s (%s)\n", ln.Addr(), a.opts.AtollURL)
	driftDone := make(chan struct{})
	driftCtx, stopDrift := context.WithCancel(ctx)
	go func() {
		defer close(driftDone)
		a.srv.RunDriftSchedule(driftCtx, server.DriftSchedule{Default: a.opts.DriftSchedule,
			Refresh: func(ctx context.Context, r vcs.Repo) (vcs.Repo, error) { return a.gh.GetRepo(ctx, r.Owner, r.Name) }})
	}()
	defer func() { <-driftDone }()
	defer stopDrift() // deferred last, so it runs before the wait above
	reconDone := make(chan struct{})
	go func() { defer close(reconDone); a.srv.RunReconciler(ctx, a.opts.ReconcileEvery) }()
	notifyDone := make(chan struct{})
	go func() {
		defer close(notifyDone)
		if a.notifier != nil {
			a.notifier.Run(ctx, 2)
		}
	}()
	defer func() { <-notifyDone }()
	pollDone, spoolDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(pollDone); a.srv.RunPullPoller(ctx, a.opts.PRPollEvery) }()
	go func() { defer close(spoolDone); a.srv.RunSpool(ctx) }()
	defer func() { <-pollDone; <-spoolDone }()
	// With a shared queue this replica consumes jobs until shutdown; running
	// jobs then get up to a minute to finish, and whatever is cut off is taken
	// over by another replica when its lease expires.
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	queueDone := make(chan struct{})
	if a.queue != nil {
		go func() {
			defer close(queueDone)
			a.queue.Run(readCtx, a.srv.BaseContext(), a.srv.HandleQueued, a.srv.GiveUpQueued)
		}()
	} else {
		close(queueDone)
	}
	if a.queue == nil {
		// Jobs a crash cut off: plans run again, applies are reported.
		// (With a shared queue another replica takes them over instead.)
		if err := a.srv.Recover(ctx); err != nil {
			a.log.Error("recover interrupted jobs", "error", err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- a.srv.Start(ln) }()
	var serveErr error
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("serve: %w", err)
		}
	case <-ctx.Done():
	}
	a.log.Info("shutting down: waiting for running jobs")
	shCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stopReading()
	select {
	case <-queueDone:
	case <-shCtx.Done():
	}
	err := a.srv.Shutdown(shCtx)
	<-queueDone
	<-reconDone
	return errors.Join(serveErr, err)
}

// logSafety says at start-up which unsafe options are on, and how the web UI
// and API are protected.
func (a *app) logSafety(addr net.Addr) {
	o := a.opts
	if o.GHWebhookSecret == "" {
		a.log.Warn("UNSAFE: --allow-unsigned-webhooks: webhooks are not verified; anyone who can reach /events can run commands as any GitHub user")
	}
	switch {
	case o.WebBasicAuth || o.APISecret != "":
		if !o.WebBasicAuth {
			a.log.Info("web UI: served to clients on this machine only, or with the --api-secret token (set --web-basic-auth to open it to browsers)")
		}
	case o.AllowOpenWeb && !isLoopback(addr):
		a.log.Warn("UNSAFE: --allow-open-web: the web UI and API are open to anyone who can reach this port: they release locks and show job logs (terraform output)")
	case !o.AllowOpenWeb:
		a.log.Info("web UI and API: served to clients on this machine only; set --web-basic-auth and --api-secret to open them to others")
	}
	if o.AllowForkPRs {
		a.log.Warn("UNSAFE: --allow-fork-prs: terraform runs the code of pull requests from forks with this server's credentials")
	}
	if o.CommandPermission == server.PermissionAny {
		a.log.Warn("UNSAFE: --command-permission=any: anyone who can comment on a pull request can plan and apply")
	} else if p := vcs.Permission(o.CommandPermission); p != "" && !p.AtLeast(vcs.PermWrite) {
		a.log.Warn("--command-permission is below write: users who cannot push to a repository can plan and apply it", "permission", o.CommandPermission)
	}
}

// Close releases the app's resources.
func (a *app) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.log.Error("close", "error", err)
		}
	}
	a.closers = nil
}
