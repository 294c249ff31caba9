// Package server is Atoll's HTTP front: it receives GitHub webhooks on /events,
// parses PR comment commands, runs the per-PR pipeline (autoplan, plan, apply,
// unlock, release on close) in the background, and serves the web UI, the JSON
// API, /metrics and /healthz. It reaches GitHub only through vcs interfaces and
// terraform only through the runner.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/vcs"
)

// WebhookParser verifies and parses a webhook request.
type WebhookParser interface {
	Parse(r *http.Request) (vcs.Event, error)
}

// Runner checks out code and runs terraform workflows.
type Runner interface {
	Checkout(ctx context.Context, co runner.Checkout) (string, error)
	Run(ctx context.Context, job runner.Job) (runner.Result, error)
	RemovePull(ctx context.Context, repo vcs.Repo, pull int) error
	BehindBase(ctx context.Context, co runner.Checkout, baseBranch string) (bool, error)
	Binary(distribution, version string) (string, error)
	PlanPath(repo vcs.Repo, pull int, dir, workspace string) string
}

// Reverter pushes a branch that reverts a commit (runner.Runner.Revert).
type Reverter interface {
	Revert(ctx context.Context, repo vcs.Repo, base, sha, branch, token, name, email string) (string, error)
}

// TeamLister answers whether a user is in a GitHub team, for the team allowlist.
type TeamLister interface {
	TeamMember(ctx context.Context, org, team, user string) (bool, error)
}

// Dispatcher runs work in the background: in this process (the default) or on any
// replica through a shared queue.
type Dispatcher interface {
	Dispatch(ctx context.Context, w Work) error
}

// PullMutex serialises work on one pull request, across replicas when shared.
type PullMutex interface {
	// LockPull blocks until the caller holds the PR's mutex and returns its release.
	LockPull(ctx context.Context, key string) (unlock func(), err error)
}

// Config is everything the server needs. cmd/atoll fills it from flags.
type Config struct {
	// AtollURL is the external URL of this server, for links in comments and statuses.
	AtollURL string
	// RepoAllowlist holds patterns like "github.com/acme/*" matched against
	// host/owner/name; "*" matches any characters including "/".
	RepoAllowlist []string
	// Executables are the first words a command comment may start with.
	Executables []string
	// MaxParallelJobs bounds jobs running at once in this process.
	MaxParallelJobs int
	// ParallelPoolSize bounds the projects one job plans or applies at once
	// when parallel_plan or parallel_apply is set (Atlantis'
	// --parallel-pool-size); 4 when 0.
	ParallelPoolSize int
	// DisableAutoplan plans only on an `atoll plan` comment: opened and
	// updated pull requests, and heads the poller finds unplanned, are not
	// planned (Atlantis' --disable-autoplan).
	DisableAutoplan bool
	// AllowCommands, when not nil, are the only comment commands run (help
	// always is); others get a comment saying they are disabled (Atlantis'
	// --allow-commands).
	AllowCommands []string
	// DisableApplyAll refuses `atoll apply` without -p, -d or -w on a pull
	// request (Atlantis' --disable-apply-all).
	DisableApplyAll bool
	// AutomergeMethod is how automerge merges: merge (when ""), squash or
	// rebase (Atlantis' --automerge-method).
	AutomergeMethod string
	// AllowForkPRs lets Atoll plan and apply pull requests whose head is in
	// another repository (a fork). Off by default: terraform runs the PR's
	// code with the server's credentials, and a fork's author may be anyone
	// who can read the repository.
	AllowForkPRs bool
	// CommandPermission is the least repository permission a commenter needs
	// to run any command ("admin", "maintain", "write", "triage", "read"), or
	// PermissionAny. Empty means "write".
	CommandPermission string
	// AllowOpenWeb serves the web UI and API to every client even without
	// WebUser or APISecret; otherwise only loopback clients are served then.
	AllowOpenWeb bool

	Parser WebhookParser
	VCS    vcs.Client
	Teams  TeamLister // optional; needed only with a team allowlist
	Merger vcs.Merger // optional; needed only for automerge
	// Checks, when set (Atoll runs as a GitHub App), gets a check run per
	// project for each plan, policy check and apply.
	Checks vcs.Checker
	// Branches checks out and plans branches that are not pull requests;
	// merge groups need it.
	Branches BranchRunner
	// PullCreator and Reverter are optional; `atoll revert` needs both.
	PullCreator vcs.PullCreator
	Reverter    Reverter
	GitToken    func(ctx context.Context) (string, error)
	Store       locking.Store
	Runner      Runner
	RepoCfg     *config.ServerConfig
	TeamAllow   *config.TeamAllowlist // optional --gh-team-allowlist
	// Policy checks plans when repos.yaml has policy sets; nil when it has none.
	Policy PolicyChecker
	// EnablePolicyChecks checks every repo's plans (--enable-policy-checks);
	// otherwise only projects with policy_check: true are checked.
	EnablePolicyChecks bool
	// EnableRegexpCmd reads a comment's -p as a regular expression over
	// project names (--enable-regexp-cmd), as Atlantis does.
	EnableRegexpCmd bool

	// Dispatcher and PullMutex default to in-process implementations.
	Dispatcher Dispatcher
	PullMutex  PullMutex
	// Jobs, when set, shares job pages between replicas.
	Jobs JobArchive
	// Cancels, when set, shares the cancellation marks of jobs between
	// replicas (`atoll cancel`, a push); in memory by default.
	Cancels CancelBoard
	// Deliveries records handled webhook deliveries to refuse replays; an
	// in-memory log of this process by default.
	Deliveries DeliveryLog
	// Notifier, when set, sends applies, failed plans, drift and stale
	// locks to webhooks (--notify-url, repos.yaml notify).
	Notifier Notifier
	// NotifyLockStaleAfter is how long a lock is held before it is
	// reported (lock_stale); 0 never.
	NotifyLockStaleAfter time.Duration
	// LiveCommentDelay holds back a command's "running" comment until it
	// has run this long; 0 posts it at once. New sets
	// DefaultLiveCommentDelay when negative.
	LiveCommentDelay time.Duration
	// AuditRetention is how long audit entries are kept
	// (DefaultAuditRetention when 0).
	AuditRetention time.Duration
	// Ready are the checks of /readyz (store, GitHub, terraform, disk).
	Ready []ReadyCheck
	// Poller, when set, lets RunPullPoller catch up on missed webhooks.
	Poller PullPoller
	// Spool, when set, keeps webhooks accepted while the shared store
	// (Redis) is unreachable on this machine's disk until the store is back
	// (see RunSpool): a journal of its own, in a local bbolt file.
	Spool locking.Journal
	// Drift, when set, reports drift of DriftRepos' default branches.
	Drift      DriftDetector
	DriftRepos []vcs.Repo
	// DriftAutoRemediate applies Git's state as soon as a check finds drift.
	DriftAutoRemediate bool

	// WebBasicAuth protects the web UI when User is set; APISecret protects the API.
	WebUser, WebPassword string
	APISecret            string

	// Redact removes secrets from job logs before any page, API answer or
	// archive shows them; nil leaves logs as terraform wrote them. Comments,
	// statuses and issues are redacted by the VCS client cmd/atoll wires in.
	Redact func([]byte) []byte

	// Registerer receives Atoll's metrics; nil uses a fresh registry.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	Now      func() time.Time
}

// Server is Atoll's HTTP server and PR pipeline.
type Server struct {
	cfg     Config
	log     *slog.Logger
	echo    *echo.Echo
	jobs    *jobRegistry
	metrics *metrics
	local   *localDispatcher // nil when a shared dispatcher is configured
	poll    *pollState
	spoolMu sync.Mutex // serialises spool writes and drains; guards spoolLeft
	// spoolLeft is how many webhooks the spool holds, -1 until it was read.
	spoolLeft int
	ready     readiness
	stale     staleLocks
	// freeQueues is what the last reconcile pass saw of free locks with a
	// queue (reconcileQueues).
	freeQueues freeQueues
	perms      *permissionCache
	cancels    *cancelState

	// baseCtx is cancelled on Shutdown; background work derives from it.
	baseCtx context.Context
	cancel  context.CancelFunc
	httpSrv *http.Server
}

// New builds a Server. Call Start to begin serving and Shutdown to drain.
func New(cfg Config) (*Server, error) {
	if cfg.Parser == nil || cfg.VCS == nil || cfg.Store == nil || cfg.Runner == nil {
		return nil, errors.New("server: Parser, VCS, Store and Runner are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RepoCfg == nil {
		cfg.RepoCfg = config.DefaultServerConfig()
	}
	if len(cfg.Executables) == 0 {
		cfg.Executables = []string{"atoll", "atlantis"}
	}
	if cfg.MaxParallelJobs <= 0 {
		cfg.MaxParallelJobs = 4
	}
	if cfg.ParallelPoolSize <= 0 {
		cfg.ParallelPoolSize = maxParallelProjects
	}
	if cfg.GitToken == nil {
		cfg.GitToken = func(context.Context) (string, error) { return "", nil }
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.CommandPermission == "" {
		cfg.CommandPermission = string(vcs.PermWrite)
	}
	if cfg.CommandPermission != PermissionAny {
		if _, err := vcs.ParsePermission(cfg.CommandPermission); err != nil {
			return nil, fmt.Errorf("server: command permission: %w", err)
		}
	}
	cfg.AtollURL = strings.TrimRight(cfg.AtollURL, "/")
	cfg.Runner = trackingRunner{cfg.Runner} // a cancellation says what it stopped
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		jobs:    newJobRegistry(500, cfg.Now, cfg.Redact),
		baseCtx: ctx,
		cancel:  cancel,
		perms:   newPermissionCache(cfg.VCS, cfg.Now),
		cancels: newCancelState(cfg.Cancels),
		poll:    newPollState(),
		// Unknown until the first drain reads the spool (it may hold webhooks
		// from before a restart).
		spoolLeft: -1,
	}
	var err error
	if s.metrics, err = newMetrics(cfg.Registry, cfg.Store, cfg.Now); err != nil {
		cancel()
		return nil, err
	}
	if s.cfg.Deliveries == nil {
		s.cfg.Deliveries = newDeliverySet()
	}
	if s.cfg.PullMutex == nil {
		s.cfg.PullMutex = newLocalPullMutex()
	}
	if s.cfg.Dispatcher == nil {
		s.local = newLocalDispatcher(ctx, cfg.MaxParallelJobs, localQueueLen, cfg.Store, cfg.Now, s.log, s.Execute)
		s.cfg.Dispatcher = s.local
	}
	s.echo = s.routes()
	// Made here, not in Start, so Shutdown (from another goroutine, maybe
	// before Start runs) never races with it.
	s.httpSrv = &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
	}
	return s, nil
}

// Handler returns the HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.echo }

// Start serves on ln until Shutdown. It returns http.ErrServerClosed after Shutdown.
func (s *Server) Start(ln net.Listener) error {
	return s.httpSrv.Serve(ln)
}

// Shutdown stops accepting requests, then waits for running jobs to finish or for
// ctx to end, whichever is first; jobs still running or queued then are
// cancelled, and Shutdown waits a few more seconds for them to report on their
// pull requests that they were stopped.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	if err := s.httpSrv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("shut down http: %w", err))
	}
	if s.local != nil {
		if err := s.local.Drain(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.cancel()
	if s.local != nil && !s.local.Wait(settleTimeout+time.Second) {
		s.log.Error("jobs still running after shutdown; their pull requests may not hear how they ended")
	}
	return errors.Join(errs...)
}

// BaseContext is cancelled when the server shuts down; shared dispatchers run
// work under it.
func (s *Server) BaseContext() context.Context { return s.baseCtx }

// allowed reports whether repo passes the allowlist.
func (s *Server) allowed(repo vcs.Repo) bool {
	id := repo.ID()
	for _, p := range s.cfg.RepoAllowlist {
		if matchAllowlist(p, id) {
			return true
		}
	}
	return false
}

// matchAllowlist matches pattern against id where "*" matches any run of
// characters, "/" included (Atlantis's --repo-allowlist semantics).
func matchAllowlist(pattern, id string) bool {
	pattern = strings.ToLower(strings.TrimSpace(pattern))
	id = strings.ToLower(id)
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == id
	}
	if !strings.HasPrefix(id, parts[0]) {
		return false
	}
	id = id[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(id, p)
		}
		j := strings.Index(id, p)
		if j < 0 {
			return false
		}
		id = id[j+len(p):]
	}
	return true
}
