package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
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
	"github.com/atollhq/atoll/policy"
	"github.com/atollhq/atoll/redact"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/server"
	"github.com/atollhq/atoll/vcs"
	ghvcs "github.com/atollhq/atoll/vcs/github"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
)

// serverOptions are the `atoll server` flags.
type serverOptions struct {
	Port             int
	Bind             string
	AtollURL         string
	DataDir          string
	GHUser           string
	GHToken          string
	GHTokenFile      string
	GHWebhookSecret  string
	GHHostname       string
	GHAPIURL         string
	GHAppID          int64
	GHAppKeyFile     string
	GHAppInstallID   int64
	GHTeamAllowlist  string
	RepoAllowlist    string
	RepoConfig       string
	LockingDBType    string
	RedisHost        string
	RedisPort        int
	RedisPassword    string
	RedisDB          int
	RedisTLS         bool
	RedisInsecure    bool
	DefaultTFVersion string
	TFBinary         string
	TFBinDir         string
	TofuBinary       string
	DefaultDist      string
	LogLevel         string
	WebBasicAuth     bool
	WebUsername      string
	WebPassword      string
	APISecret        string
	MaxParallelJobs  int
	ReconcileEvery   time.Duration
	ClusterLease     time.Duration
	EnablePolicies   bool
	AllowForkPRs     bool
	DriftRepos       string
	DriftSchedule    string
	DriftLabel       string
	DriftRemediate   bool
	// CommandPermission is the least repository permission to run commands.
	CommandPermission string
	// AllowUnsignedWebhooks accepts webhooks without --gh-webhook-secret.
	AllowUnsignedWebhooks bool
	// AllowOpenWeb serves the UI and API to anyone without credentials.
	AllowOpenWeb bool
	// StepTimeout bounds every workflow step; KillGrace is how long a
	// cancelled step has between SIGINT and SIGKILL.
	StepTimeout, KillGrace time.Duration
	// GHTimeout bounds one GitHub API call, retries included.
	GHTimeout time.Duration
}

func (o *serverOptions) register(fs *flag.FlagSet) {
	home, _ := os.UserHomeDir()
	fs.IntVar(&o.Port, "port", 4141, "port to serve on")
	fs.StringVar(&o.Bind, "bind", "", "address to bind (default all interfaces)")
	fs.StringVar(&o.AtollURL, "atoll-url", "", "external URL of this server, for links in comments (default http://localhost:PORT)")
	fs.StringVar(&o.DataDir, "data-dir", filepath.Join(home, ".atoll"), "directory for the lock database, checkouts and plans")
	fs.StringVar(&o.GHUser, "gh-user", "", "GitHub login of the bot (its own comments are ignored)")
	fs.StringVar(&o.GHToken, "gh-token", "", "GitHub personal access token (prefer ATOLL_GH_TOKEN or --gh-token-file)")
	fs.StringVar(&o.GHTokenFile, "gh-token-file", "", "file holding the GitHub token")
	fs.StringVar(&o.GHWebhookSecret, "gh-webhook-secret", "", "secret GitHub signs webhooks with (strongly recommended)")
	fs.StringVar(&o.GHHostname, "gh-hostname", "github.com", "GitHub hostname (GitHub Enterprise Server: its hostname)")
	fs.StringVar(&o.GHAPIURL, "gh-api-url", "", "full REST API base URL (default derived from --gh-hostname)")
	fs.Int64Var(&o.GHAppID, "gh-app-id", 0, "GitHub App ID (instead of a token)")
	fs.StringVar(&o.GHAppKeyFile, "gh-app-key-file", "", "GitHub App private key (PEM)")
	fs.Int64Var(&o.GHAppInstallID, "gh-app-installation-id", 0, "GitHub App installation ID")
	fs.StringVar(&o.GHTeamAllowlist, "gh-team-allowlist", "", `which teams may run which commands, e.g. "ops:apply,dev:plan,*:unlock" (default: everyone may run everything)`)
	fs.StringVar(&o.RepoAllowlist, "repo-allowlist", "", `comma-separated repos Atoll acts on, matched against host/owner/repo; "*" matches anything, e.g. "github.com/acme/*"`)
	fs.StringVar(&o.RepoConfig, "repo-config", "", "server-side repos.yaml")
	fs.StringVar(&o.LockingDBType, "locking-db-type", "boltdb", "lock store: boltdb (embedded) or redis (shared by replicas)")
	fs.StringVar(&o.RedisHost, "redis-host", "", "redis host (with --locking-db-type=redis)")
	fs.IntVar(&o.RedisPort, "redis-port", 6379, "redis port")
	fs.StringVar(&o.RedisPassword, "redis-password", "", "redis password (prefer ATOLL_REDIS_PASSWORD)")
	fs.IntVar(&o.RedisDB, "redis-db", 0, "redis database number")
	fs.BoolVar(&o.RedisTLS, "redis-tls-enabled", false, "connect to redis over TLS")
	fs.BoolVar(&o.RedisInsecure, "redis-insecure-skip-verify", false, "skip redis TLS certificate checks (testing only)")
	fs.StringVar(&o.DefaultTFVersion, "default-tf-version", "", "terraform version of --tf-binary, used when a project asks for none")
	fs.StringVar(&o.TFBinary, "tf-binary", "", "terraform binary (default: terraform on PATH)")
	fs.StringVar(&o.TofuBinary, "tofu-binary", "", "OpenTofu binary, for projects with terraform_distribution: opentofu (default: tofu on PATH)")
	fs.StringVar(&o.DefaultDist, "default-tf-distribution", "terraform", "terraform or opentofu: what projects that set no terraform_distribution run")
	fs.StringVar(&o.TFBinDir, "tf-bin-dir", "", "directory holding other terraform versions as terraform<VERSION>")
	fs.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&o.WebBasicAuth, "web-basic-auth", false, "protect the web UI and API with basic auth")
	fs.StringVar(&o.WebUsername, "web-username", "atoll", "web UI basic auth user")
	fs.StringVar(&o.WebPassword, "web-password", "", "web UI basic auth password (prefer ATOLL_WEB_PASSWORD)")
	fs.StringVar(&o.APISecret, "api-secret", "", "secret scripts send as X-Atoll-Token to the JSON API")
	fs.IntVar(&o.MaxParallelJobs, "max-parallel-jobs", 4, "jobs run at once by this process")
	fs.DurationVar(&o.ReconcileEvery, "lock-reconcile-interval", 10*time.Minute, "how often locks of merged or closed pull requests are released")
	fs.BoolVar(&o.EnablePolicies, "enable-policy-checks", false, "check every repo's plans against the policy sets in --repo-config (otherwise only repos with policy_check: true)")
	fs.BoolVar(&o.AllowForkPRs, "allow-fork-prs", false, "plan and apply pull requests from forks; off by default because terraform runs a fork's code with this server's credentials")
	fs.StringVar(&o.DriftRepos, "drift-repos", "", "comma-separated repos (owner/name) whose default branch is re-planned to detect drift")
	fs.StringVar(&o.DriftSchedule, "drift-schedule", "@every 1h", "when to check --drift-repos: a cron expression (\"0 * * * *\") or @every DURATION")
	fs.StringVar(&o.DriftLabel, "drift-label", "atoll-drift", "label of drift issues")
	fs.BoolVar(&o.DriftRemediate, "drift-auto-remediate", false, "apply Git's state as soon as a drift check finds a difference (unless a pull request holds the workspace)")
	fs.StringVar(&o.CommandPermission, "command-permission", "write", "least repository permission a commenter needs to run any command: admin, maintain, write, triage, read or any (any: everyone who can comment)")
	fs.BoolVar(&o.AllowUnsignedWebhooks, "allow-unsigned-webhooks", false, "UNSAFE: accept webhooks when --gh-webhook-secret is not set; anyone who can reach /events can then run commands as any user")
	fs.BoolVar(&o.AllowOpenWeb, "allow-open-web", false, "UNSAFE: serve the web UI and API to every client when neither --web-basic-auth nor --api-secret is set (default: only clients on this machine)")
	fs.DurationVar(&o.GHTimeout, "gh-timeout", 2*time.Minute, "longest one GitHub API call may take, retries and rate-limit waits included; connecting and TLS take at most 10s, and GitHub must start answering within 30s (or this, if shorter)")
	fs.DurationVar(&o.StepTimeout, "step-timeout", runner.DefaultStepTimeout, "longest a terraform or run step may take (a workflow step's timeout: overrides it); then it gets SIGINT, and SIGKILL after --kill-grace")
	fs.DurationVar(&o.KillGrace, "kill-grace", runner.DefaultKillGrace, "how long a cancelled or timed-out step has to stop after SIGINT (terraform releases its state lock) before SIGKILL")
	fs.DurationVar(&o.ClusterLease, "cluster-lease", cluster.DefaultLease, "with redis: how long a replica's job may go without a heartbeat before another replica takes it over")
}

func (o *serverOptions) validate() error {
	var errs []error
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d is out of range", o.Port))
	}
	if o.RepoAllowlist == "" {
		errs = append(errs, errors.New("--repo-allowlist is required (for example --repo-allowlist='github.com/acme/*')"))
	}
	if o.GHToken == "" && o.GHTokenFile == "" && o.GHAppID == 0 {
		errs = append(errs, errors.New("set --gh-token (or ATOLL_GH_TOKEN, --gh-token-file) or a GitHub App (--gh-app-id, --gh-app-key-file)"))
	}
	switch o.LockingDBType {
	case "boltdb":
	case "redis":
		if o.RedisHost == "" {
			errs = append(errs, errors.New("--locking-db-type=redis needs --redis-host"))
		}
	default:
		errs = append(errs, fmt.Errorf("--locking-db-type must be boltdb or redis, not %q", o.LockingDBType))
	}
	if o.DefaultDist != "" && o.DefaultDist != "terraform" && o.DefaultDist != "opentofu" {
		errs = append(errs, fmt.Errorf("--default-tf-distribution must be terraform or opentofu, not %q", o.DefaultDist))
	}
	if o.CommandPermission != "" && o.CommandPermission != server.PermissionAny {
		if _, err := vcs.ParsePermission(o.CommandPermission); err != nil {
			errs = append(errs, fmt.Errorf("--command-permission must be admin, maintain, write, triage, read or any, not %q", o.CommandPermission))
		}
	}
	if o.StepTimeout < 0 || o.KillGrace < 0 {
		errs = append(errs, errors.New("--step-timeout and --kill-grace must not be negative"))
	}
	if o.GHTimeout <= 0 {
		errs = append(errs, errors.New("--gh-timeout must be positive: every GitHub call needs a deadline"))
	}
	if o.WebBasicAuth && o.WebPassword == "" {
		errs = append(errs, errors.New("--web-basic-auth needs --web-password"))
	}
	if _, err := parseLevel(o.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if o.DriftRepos != "" {
		if _, err := cron.ParseStandard(o.DriftSchedule); err != nil {
			errs = append(errs, fmt.Errorf("--drift-schedule %q: %w", o.DriftSchedule, err))
		}
		for _, r := range splitList(o.DriftRepos) {
			if owner, name, ok := strings.Cut(r, "/"); !ok || owner == "" || name == "" || strings.Contains(name, "/") {
				errs = append(errs, fmt.Errorf("--drift-repos: %q is not owner/name", r))
			}
		}
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

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
	return app.Serve(ctx, ln, stdout)
}

// requireWebhookSecret refuses to serve unsigned webhooks unless asked to:
// without a secret anyone who can reach /events can forge a comment from any
// user.
func requireWebhookSecret(o *serverOptions) error {
	if o.GHWebhookSecret == "" && !o.AllowUnsignedWebhooks {
		return errors.New("--gh-webhook-secret is required: set it (or ATOLL_GH_WEBHOOK_SECRET) to the secret of the GitHub webhook or App, or pass --allow-unsigned-webhooks to accept forged webhooks (unsafe; for local experiments only)")
	}
	return nil
}

// startApp parses the server flags (flag > ATOLL_* > --config file > default),
// runs check on them if given, and wires an app with a logger on stderr.
func startApp(ctx context.Context, name string, args []string, stderr io.Writer, getenv func(string) (string, bool),
	check func(*serverOptions) error) (serverOptions, *app, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o serverOptions
	o.register(fs)
	configFile := fs.String("config", "", "YAML file of flag values (keys are flag names)")
	if err := fs.Parse(args); err != nil {
		return o, nil, err
	}
	// Secrets typed on the command line are visible in /proc/PID/cmdline.
	var onCommandLine []string
	fs.Visit(func(f *flag.Flag) {
		if secretFlags[f.Name] && f.Value.String() != "" {
			onCommandLine = append(onCommandLine, f.Name)
		}
	})
	if err := applyEnvAndFile(fs, getenv, *configFile); err != nil {
		return o, nil, err
	}
	if err := o.validate(); err != nil {
		return o, nil, err
	}
	if check != nil {
		if err := check(&o); err != nil {
			return o, nil, err
		}
	}
	level, _ := parseLevel(o.LogLevel)
	red := redact.New(o.secrets()...)
	logger := slog.New(red.Handler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
	for _, f := range onCommandLine {
		logger.Warn("UNSAFE: a secret was given on the command line, where every process on this machine (terraform included) can read it from /proc; use the environment variable, --config or a file instead",
			"flag", "--"+f, "instead", "ATOLL_"+strings.ToUpper(strings.ReplaceAll(f, "-", "_")))
	}
	a, err := build(ctx, o, logger, os.Environ(), red)
	return o, a, err
}

// secretFlags are the flags that hold secrets.
var secretFlags = map[string]bool{"gh-token": true, "gh-webhook-secret": true, "redis-password": true, "web-password": true, "api-secret": true}

// secrets are the secret values given as flags, environment variables or in
// the config file; build adds those it reads from files.
func (o *serverOptions) secrets() []string {
	return []string{o.GHToken, o.GHWebhookSecret, o.RedisPassword, o.WebPassword, o.APISecret}
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
		o.AtollURL = "http://localhost:" + strconv.Itoa(o.Port)
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
	ghCfg := ghvcs.Config{Hostname: o.GHHostname, APIURL: o.GHAPIURL, User: o.GHUser, Token: token, Logger: logger,
		HTTPClient: githubHTTPClient(o.GHTimeout)}
	if o.GHAppID != 0 {
		key, err := os.ReadFile(o.GHAppKeyFile)
		if err != nil {
			return nil, fmt.Errorf("read --gh-app-key-file: %w", err)
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
	run, err := runner.New(runner.Config{DataDir: o.DataDir, Terraform: o.TFBinary, BinDir: o.TFBinDir,
		DefaultVersion: o.DefaultTFVersion, Env: env, Secrets: secrets, Logger: logger, StepTimeout: o.StepTimeout, KillGrace: o.KillGrace, Shim: shim, Tofu: o.TofuBinary, DefaultDistribution: o.DefaultDist})
	if err != nil {
		a.Close()
		return nil, err
	}
	repoCfg := config.DefaultServerConfig()
	if o.RepoConfig != "" {
		data, err := os.ReadFile(o.RepoConfig)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("read --repo-config: %w", err)
		}
		if repoCfg, err = config.ParseServerConfig(filepath.Base(o.RepoConfig), data); err != nil {
			a.Close()
			return nil, err
		}
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
	registry := prometheus.NewRegistry()
	// Everything written to GitHub goes through one redaction step.
	out := redactedGitHub{Client: gh, red: red}
	if o.DriftRepos != "" {
		if a.driftRepos, err = resolveRepos(ctx, gh, splitList(o.DriftRepos)); err != nil {
			a.Close()
			return nil, err
		}
		if a.drift, err = drift.New(drift.Config{Runner: run, Issues: out, Locks: a.store, RepoCfg: repoCfg, GitToken: gh.GitToken,
			Label: o.DriftLabel, PageURL: o.AtollURL + "/drift", Registry: registry, Logger: logger}); err != nil {
			a.Close()
			return nil, err
		}
	}
	scfg := server.Config{Registry: registry, DriftRepos: a.driftRepos,
		AtollURL: o.AtollURL, RepoAllowlist: splitList(o.RepoAllowlist), MaxParallelJobs: o.MaxParallelJobs,
		Parser: &ghvcs.WebhookParser{Secret: []byte(o.GHWebhookSecret), Hostname: o.GHHostname, GitURL: gh.GitURL(), BotUser: o.GHUser},
		VCS:    out, Teams: gh, Merger: gh, GitToken: gh.GitToken, Store: a.store, Runner: run, RepoCfg: repoCfg, TeamAllow: teams,
		APISecret: o.APISecret, Logger: logger, PullMutex: pullMutex, EnablePolicyChecks: o.EnablePolicies,
		AllowForkPRs: o.AllowForkPRs, CommandPermission: o.CommandPermission, AllowOpenWeb: o.AllowOpenWeb,
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
	if o.WebBasicAuth {
		scfg.WebUser, scfg.WebPassword = o.WebUsername, o.WebPassword
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

// runDriftSchedule queues drift checks of the watched repos on the schedule
// until ctx ends.
func (a *app) runDriftSchedule(ctx context.Context) {
	if a.drift == nil {
		return
	}
	sched, err := cron.ParseStandard(a.opts.DriftSchedule)
	if err != nil {
		a.log.Error("drift schedule", "error", err)
		return
	}
	next := nextTick(sched, time.Now())
	a.log.Info("drift detection scheduled", "repos", len(a.driftRepos), "next", next.Format(time.RFC3339))
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		for _, r := range a.driftRepos {
			// Look the repo up again: its default branch may have been renamed.
			if fresh, err := a.gh.GetRepo(ctx, r.Owner, r.Name); err == nil {
				r = fresh
			} else {
				a.log.Warn("refresh drift repo; using the one known", "repo", r.FullName(), "error", err)
			}
			if err := a.srv.ScheduleDrift(ctx, r, next); err != nil {
				a.log.Error("schedule drift check", "repo", r.FullName(), "error", err)
			}
		}
		next = nextTick(sched, time.Now())
	}
}

// nextTick is the schedule's next time after now. "@every D" is aligned to
// multiples of D (robfig/cron counts it from now), so every replica computes the
// same tick and only one of them claims it.
func nextTick(sched cron.Schedule, now time.Time) time.Time {
	if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay > 0 {
		return now.Truncate(every.Delay).Add(every.Delay)
	}
	return sched.Next(now)
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
	go func() { defer close(driftDone); a.runDriftSchedule(driftCtx) }()
	defer func() { <-driftDone }()
	defer stopDrift() // deferred last, so it runs before the wait above
	reconDone := make(chan struct{})
	go func() { defer close(reconDone); a.srv.RunReconciler(ctx, a.opts.ReconcileEvery) }()
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
