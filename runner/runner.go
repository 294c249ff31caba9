// Package runner checks out a pull request's code and runs a workflow (an ordered
// list of config.Step) in one project directory of it: terraform init, workspace
// selection, plan, show, apply and import through terraform-exec, and the custom
// run, env and multienv steps. It streams and captures every step's output and
// turns a saved plan into counts and a resource list.
//
// Working copies: one bare mirror per base repository
// (DataDir/repos/HOST/OWNER/NAME.git) and one git worktree per pull request
// (DataDir/worktrees/HOST/OWNER/NAME/PULL), moved to the PR's head commit on every
// push. Drift detection checks a branch out into a worktree of its own beside
// them (DataDir/worktrees/HOST/OWNER/NAME/branch-<escaped branch>, see
// CheckoutBranch). Plan files live outside the worktree, under DataDir/plans, so
// cleaning the worktree never loses a reviewed plan.
//
// Init: a checkout keeps each project's .terraform (and a lock file init
// generated), and an init step is skipped when nothing it depends on changed
// since the last successful init in that directory; otherwise .terraform is
// removed and init runs as in a fresh directory (see init_cache.go). Without a
// plugin cache of the user's (TF_PLUGIN_CACHE_DIR, or plugin_cache_dir in the
// CLI config), terraform gets DataDir/plugin-cache, so a provider is
// downloaded once per server. Inits that use one cache directory take turns
// (a file lock under DataDir/locks): terraform's cache is not safe for
// concurrent writers.
//
// Credentials reach git only through its environment (GIT_CONFIG_COUNT and
// friends), never on the command line, in .git/config or in a remote URL, and are
// scrubbed from error text. No child process (terraform, run and env steps,
// workflow hooks, git) sees Atoll's own settings (ATOLL_*, ATLANTIS_*) or a
// variable holding one of Config.Secrets: the runner filters Config.Env once,
// in New, and every child's environment starts from the result.
//
// Child processes (terraform, run, env and multienv steps, workflow hooks, git)
// run in process groups of their own and, on Linux, die with the server: the
// kernel SIGKILLs each one when the server dies (Pdeathsig; see runCommand for
// why each is started from a goroutine locked to its OS thread). Only the
// direct child is tied to the server that way: what it started itself (a run
// step's background command, terraform's providers) survives a server killed
// with SIGKILL, and is killed with the child's process group only when the
// step is cancelled. Every step has a timeout (Config.StepTimeout, or the
// step's own timeout: key); a step whose context ends, by timeout or because the
// server is shutting down, first gets SIGINT, so terraform can stop cleanly and
// release its state lock, and its process group gets SIGKILL Config.KillGrace
// later. A step that timed out fails with a *StepError wrapping ErrStepTimeout.
//
// Versions: Binary resolves a project's terraform_version (an exact version,
// or a required_version constraint, resolved against the releases index) to
// the default binary, a verified binary in the data dir's cache
// (DataDir/bin/<terraform|tofu>/<VERSION>, each with a manifest of its size
// and sha256), Config.BinDir, or, when Config.Download allows, a download
// from the configured site only: terraform through hc-install (signature and
// checksums checked), OpenTofu from a mirror of its GitHub releases
// (checksums, and the signature when a key is configured). Concurrent
// requests for one version download it once (see install.go).
//
// The runner decides no policy: who may plan or apply, and when, is the caller's
// business.
package runner

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	"golang.org/x/sync/singleflight"

	"github.com/atollhq/atoll/redact"
	"github.com/atollhq/atoll/vcs"
)

// Config configures a Runner. It is plain data: cmd/atoll fills it from flags and
// the process environment.
type Config struct {
	// DataDir is the root for mirrors, worktrees and plan files. Required.
	DataDir string
	// Git is the git binary, "git" (looked up on Env's PATH) when empty.
	Git string
	// Terraform is the default terraform binary (--tf-binary); "" looks up
	// "terraform" on Env's PATH.
	Terraform string
	// BinDir holds other terraform versions, as BinDir/terraform<VERSION> or
	// BinDir/terraform_<VERSION> (for example BinDir/terraform1.5.7), and
	// OpenTofu ones as tofu<VERSION>.
	BinDir string
	// DefaultVersion is the version projects that ask for none run
	// (--default-tf-version), of DefaultDistribution: the default binary
	// when it is that version (or prints no version), otherwise found or
	// downloaded like any other.
	DefaultVersion string
	// Download allows fetching a version that is neither the default
	// binary's, nor in the data dir's cache (DataDir/bin), nor in BinDir
	// (--tf-download). Off, a project asking for one fails with
	// ErrNotInstalled.
	Download bool
	// TerraformDownloadURL is the releases site terraform is downloaded
	// from, laid out like releases.hashicorp.com (index.json files, zips,
	// SHA256SUMS and their signatures); DefaultTerraformDownloadURL when
	// empty (--tf-download-url).
	TerraformDownloadURL string
	// TerraformDownloadKey is the armored OpenPGP public key that signs the
	// SHA256SUMS of TerraformDownloadURL; "" means HashiCorp's
	// (--tf-download-key-file).
	TerraformDownloadKey string
	// TofuDownloadURL is where OpenTofu is downloaded from, laid out like
	// OpenTofu's GitHub releases (vVERSION/tofu_VERSION_OS_ARCH.zip,
	// vVERSION/tofu_VERSION_SHA256SUMS); DefaultTofuDownloadURL when empty
	// (--tofu-download-url).
	TofuDownloadURL string
	// TofuDownloadKey is an armored OpenPGP public key: when set, the
	// SHA256SUMS must carry its signature (tofu_VERSION_SHA256SUMS.gpgsig);
	// when empty, only checksums are verified (--tofu-download-key-file).
	TofuDownloadKey string
	// DownloadTimeout bounds one download and install of a version;
	// DefaultDownloadTimeout when zero.
	DownloadTimeout time.Duration
	// HTTPClient downloads versions and releases indexes; nil uses a client
	// of the runner's own (proxies from Env are not read).
	HTTPClient *http.Client
	// Env is the base environment of terraform, git and run steps, as
	// os.Environ returns it. The runner never reads the process environment.
	// Atoll's own settings (ATOLL_*, ATLANTIS_*) and variables holding one of
	// Secrets are removed from it before any child process sees it; the rest,
	// cloud credentials and TF_VAR_* included, passes as is.
	Env []string
	// Secrets are the secret values Atoll holds: the GitHub token, webhook
	// secret, web password, API secret, Redis password, GitHub App key.
	// A variable of Env whose value contains one of them (or its base64,
	// quoted or URL-escaped form, or a line of 16 or more characters of a
	// multi-line one) reaches no child process, so neither terraform nor a
	// run step can print it. Values shorter than 8 characters are ignored.
	// Git still gets the token it needs, from Checkout.Token and through
	// its own environment only; terraform and run steps never see it.
	Secrets []string
	// Logger receives the runner's own log lines; nil discards them.
	Logger *slog.Logger
	// Tofu is the default OpenTofu binary (--tofu-binary); "" looks up "tofu"
	// on Env's PATH. Other OpenTofu versions live in BinDir as tofu<VERSION>.
	Tofu string
	// DefaultDistribution is "terraform" (when empty) or "opentofu": what a
	// project that names no terraform_distribution runs.
	DefaultDistribution string
	// Shim is an executable that runs ShimMain (the atoll binary), used in
	// terraform's place to pass TF_VAR_* variables that terraform-exec refuses.
	// Empty drops those variables with a warning.
	Shim string
	// StepTimeout bounds each step of a job (a terraform command, a run, env
	// or multienv step, a workflow hook) that sets no timeout of its own
	// (config.Step.Timeout); DefaultStepTimeout (1h) when zero. A step that
	// runs longer is interrupted and fails with ErrStepTimeout.
	StepTimeout time.Duration
	// KillGrace is how long a cancelled or timed-out child process has
	// between SIGINT and SIGKILL: terraform to stop and release its state
	// lock, a run step's process group to clean up, git to remove its lock
	// files. DefaultKillGrace (10s) when zero. A Run or Checkout that is
	// cancelled can take this much longer to return.
	KillGrace time.Duration
}

// Runner checks out pull requests and runs workflows. It is safe for concurrent
// use: operations on one repository's mirror are serialized, a worktree is not
// moved while a workflow runs in it, and two workflows never run at once in the
// same project directory.
type Runner struct {
	cfg     Config
	dataDir string // absolute, cleaned
	git     string // resolved git binary
	log     *slog.Logger
	// env is Config.Env filtered by childEnv: where the environment of every
	// child process starts. Use it, never cfg.Env.
	env []string
	// stepTimeout and killGrace are Config.StepTimeout and Config.KillGrace
	// with their defaults applied.
	stepTimeout, killGrace time.Duration

	// mirrors serializes everything that touches one bare mirror (fetches, refs,
	// worktree add/prune/remove), keyed by the mirror's path.
	mirrors keyedMutex
	// worktrees is keyed by worktree directory: Checkout and RemovePull hold it
	// exclusively, Run holds it shared, so a checkout never moves files under a
	// running terraform. Take it before the mirror lock, never after.
	worktrees keyedRWMutex
	// projects is keyed by the absolute project directory: it guards the
	// directory's .terraform (init, selected workspace) for the length of a Run.
	projects keyedMutex

	// tfHandles caches terraform-exec handles by project directory and binary.
	// A handle remembers terraform's version, so later runs of the project skip
	// a `terraform version` start (about 25 ms of each plan). Runs of one project
	// are serialised by projects, so two runs never share a handle at once.
	tfMu      sync.Mutex // guards tfHandles
	tfHandles map[string]*tfRun

	// installs makes concurrent requests for one missing version share one
	// download (keyed by product and version); indexes does the same for a
	// releases index.
	installs, indexes singleflight.Group
	// versionsMu guards binVersions, verified and releaseIndex.
	versionsMu sync.Mutex
	// binVersions caches what `BINARY version` printed, keyed by path, size
	// and modification time.
	binVersions map[string]versionAnswer
	// verified remembers cached binaries whose sha256 matched their
	// manifest, keyed by path, so later uses only compare size and
	// modification time (see cachedBinary).
	verified map[string]fileStamp
	// releaseIndex caches the versions of a releases index by URL, for
	// releaseIndexTTL.
	releaseIndex map[string]releaseIndexEntry
}

// maxTFHandles bounds tfHandles; past it the cache starts again empty, which
// costs each project one version check.
const maxTFHandles = 256

// tfHandle returns the cached handle for terraform binary bin in projectDir,
// creating it if needed.
func (r *Runner) tfHandle(projectDir, bin string, shim bool) (*tfRun, error) {
	key := projectDir + "\x00" + bin
	r.tfMu.Lock()
	defer r.tfMu.Unlock()
	if t, ok := r.tfHandles[key]; ok {
		return t, nil
	}
	tf, err := tfexec.NewTerraform(projectDir, bin)
	if err != nil {
		return nil, fmt.Errorf("set up terraform: %w", err)
	}
	// On cancellation terraform-exec sends terraform SIGINT; with a wait delay
	// it sends SIGKILL that much later, where without one it would wait for
	// terraform forever. It refuses only on Windows, where it cannot send SIGINT.
	_ = tf.SetWaitDelay(r.killGrace)
	t := &tfRun{tf: tf, stdout: &switchWriter{}, stderr: &switchWriter{}, shim: shim}
	tf.SetStdout(t.stdout)
	tf.SetStderr(t.stderr)
	if r.tfHandles == nil || len(r.tfHandles) >= maxTFHandles {
		r.tfHandles = map[string]*tfRun{}
	}
	r.tfHandles[key] = t
	return t, nil
}

// New returns a Runner for cfg. It creates DataDir if needed and resolves git.
func New(cfg Config) (*Runner, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("new runner: DataDir is required")
	}
	if cfg.StepTimeout < 0 || cfg.KillGrace < 0 {
		return nil, fmt.Errorf("new runner: StepTimeout (%s) and KillGrace (%s) must not be negative", cfg.StepTimeout, cfg.KillGrace)
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("new runner: resolve data dir %q: %w", cfg.DataDir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("new runner: create data dir %q: %w", abs, err)
	}
	if err := checkDownloadKeys(cfg); err != nil {
		return nil, fmt.Errorf("new runner: %w", err)
	}
	env := childEnv(cfg.Env, redact.New(cfg.Secrets...))
	gitBin := cfg.Git
	if gitBin == "" {
		gitBin = "git"
	}
	git, err := lookPath(gitBin, env)
	if err != nil {
		return nil, fmt.Errorf("new runner: find git: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	rn := &Runner{cfg: cfg, dataDir: abs, env: env, git: git, log: logger,
		stepTimeout: cfg.StepTimeout, killGrace: cfg.KillGrace}
	if rn.stepTimeout == 0 {
		rn.stepTimeout = DefaultStepTimeout
	}
	if rn.killGrace == 0 {
		rn.killGrace = DefaultKillGrace
	}
	return rn, nil
}

// Distributions a project can ask for (terraform_distribution).
const (
	DistTerraform = "terraform"
	DistOpenTofu  = "opentofu"
)

// PlanPath returns where the plan file of a project lives:
// DataDir/plans/HOST/OWNER/NAME/PULL/<escaped dir>/<workspace>.tfplan. It is
// outside the worktree, so a checkout or clean never deletes it.
func (r *Runner) PlanPath(repo vcs.Repo, pull int, dir, workspace string) string {
	return filepath.Join(r.pullPlanDir(repo, pull), escapeComponent(filepath.Clean(dir)), escapeComponent(workspace)+".tfplan")
}

func (r *Runner) pullPlanDir(repo vcs.Repo, pull int) string {
	return filepath.Join(r.dataDir, "plans", escapeComponent(repo.Host), escapeComponent(repo.Owner), escapeComponent(repo.Name), fmt.Sprint(pull))
}

// escapeComponent turns s into one safe path component: "/" and "%" are
// percent-escaped and "", "." and ".." cannot result.
func escapeComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/' || c == '%' || c == '\\' || c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	if out == "" || out == "." || out == ".." {
		out = strings.ReplaceAll(out, ".", "%2E")
		if out == "" {
			out = "%00"
		}
	}
	return out
}

// lookPath finds name like exec.LookPath, but on the PATH of env rather than the
// process's. A name containing a slash is checked as is.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if isExecutable(name) {
			return name, nil
		}
		return "", fmt.Errorf("%s is not an executable file", name)
	}
	path := envValue(env, "PATH")
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH %q", name, path)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&fs.ModePerm&0o111 != 0
}

// envValue returns the last value of key in env ("" when unset).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// keyedMutex is a set of mutexes created on first use. Entries are never freed:
// there is one per repository or project directory, a small number.
type keyedMutex struct {
	mu sync.Mutex // guards m
	m  map[string]*sync.Mutex
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*sync.Mutex{}
	}
	m, ok := k.m[key]
	if !ok {
		m = &sync.Mutex{}
		k.m[key] = m
	}
	k.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// keyedRWMutex is keyedMutex with reader/writer locks.
type keyedRWMutex struct {
	mu sync.Mutex // guards m
	m  map[string]*sync.RWMutex
}

func (k *keyedRWMutex) get(key string) *sync.RWMutex {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]*sync.RWMutex{}
	}
	m, ok := k.m[key]
	if !ok {
		m = &sync.RWMutex{}
		k.m[key] = m
	}
	return m
}

func (k *keyedRWMutex) lock(key string) (unlock func()) {
	m := k.get(key)
	m.Lock()
	return m.Unlock
}

func (k *keyedRWMutex) rlock(key string) (unlock func()) {
	m := k.get(key)
	m.RLock()
	return m.RUnlock
}
