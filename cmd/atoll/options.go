// This file holds the `atoll server` flags: their table, validation, and
// which of them are secrets.

package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/atollhq/atoll/cluster"
	"github.com/atollhq/atoll/notify"
	"github.com/atollhq/atoll/runner"
	"github.com/atollhq/atoll/server"
	"github.com/atollhq/atoll/vcs"
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
	LogFormat        string
	MinFreeDisk      int64
	WebBasicAuth     bool
	WebUsername      string
	WebPassword      string
	APISecret        string
	MaxParallelJobs  int
	ReconcileEvery   time.Duration
	PRPollEvery      time.Duration
	AuditRetention   time.Duration
	LiveCommentDelay time.Duration
	NotifyURLs       string
	NotifyLockStale  time.Duration
	ClusterLease     time.Duration
	EnablePolicies   bool
	EnableRegexpCmd  bool
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
	// TFDownload allows downloading the versions projects ask for;
	// TFDownloadURL and TofuDownloadURL are where from, and the key files
	// hold the armored OpenPGP keys that sign their checksums.
	TFDownload                           bool
	TFDownloadURL, TFDownloadKeyFile     string
	TofuDownloadURL, TofuDownloadKeyFile string

	// Atlantis flags Atoll implements (see atlantis_flags.go).

	// GHAppKey is the App's PEM private key itself (--gh-app-key).
	GHAppKey string
	// ExecutableName, when not "atlantis", is the only first word of
	// command comments (--executable-name).
	ExecutableName string
	// SSLCertFile and SSLKeyFile make the server serve HTTPS.
	SSLCertFile, SSLKeyFile string
	// DisableAutoplan plans only on comments.
	DisableAutoplan bool
	// DisableApplyAll refuses `atoll apply` without -p, -d or -w.
	DisableApplyAll bool
	// AllowCommands are the comment commands run (Atlantis names).
	AllowCommands string
	// AutomergeMethod is merge, squash or rebase.
	AutomergeMethod string
	// RepoConfigJSON is repos.yaml as a JSON string.
	RepoConfigJSON string
	// ParallelPoolSize bounds the projects of one command run at once.
	ParallelPoolSize int
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
	fs.StringVar(&o.DefaultTFVersion, "default-tf-version", "", "version projects that ask for none run (of --default-tf-distribution): --tf-binary (or --tofu-binary) when it is that version, else found in the cache or --tf-bin-dir, or downloaded (default: --tf-binary, whatever its version)")
	fs.StringVar(&o.TFBinary, "tf-binary", "", "terraform binary (default: terraform on PATH)")
	fs.StringVar(&o.TofuBinary, "tofu-binary", "", "OpenTofu binary, for projects with terraform_distribution: opentofu (default: tofu on PATH)")
	fs.StringVar(&o.DefaultDist, "default-tf-distribution", "terraform", "terraform or opentofu: what projects that set no terraform_distribution run")
	fs.StringVar(&o.TFBinDir, "tf-bin-dir", "", "directory holding other versions as terraform<VERSION> and tofu<VERSION>, used before downloading")
	fs.BoolVar(&o.TFDownload, "tf-download", true, "download a version a project asks for (terraform_version or required_version) that is not --tf-binary's, cached in --data-dir/bin or in --tf-bin-dir, from --tf-download-url or --tofu-download-url only, verified before use; false: such a project fails with a message naming the version")
	fs.StringVar(&o.TFDownloadURL, "tf-download-url", runner.DefaultTerraformDownloadURL, "site terraform is downloaded from, laid out like releases.hashicorp.com (a mirror needs /terraform/index.json, /terraform/VERSION/index.json, the zips, terraform_VERSION_SHA256SUMS and its .sig)")
	fs.StringVar(&o.TFDownloadKeyFile, "tf-download-key-file", "", "armored OpenPGP public key that signs the SHA256SUMS of --tf-download-url, for a mirror signed with your own key (default: HashiCorp's key)")
	fs.StringVar(&o.TofuDownloadURL, "tofu-download-url", runner.DefaultTofuDownloadURL, "where OpenTofu is downloaded from, laid out like its GitHub releases: URL/vVERSION/tofu_VERSION_OS_ARCH.zip and tofu_VERSION_SHA256SUMS; a mirror also serves URL/api.json (as get.opentofu.org/tofu/api.json) to resolve constraints")
	fs.StringVar(&o.TofuDownloadKeyFile, "tofu-download-key-file", "", "armored OpenPGP public key that signs tofu_VERSION_SHA256SUMS (its .gpgsig), such as OpenTofu's https://get.opentofu.org/opentofu.asc; without it only the checksums are checked")
	fs.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.LogFormat, "log-format", "text", "text (key=value lines) or json (one JSON object per line, for a log stack)")
	fs.Int64Var(&o.MinFreeDisk, "readyz-min-free-disk", 512<<20, "bytes that must be free in --data-dir for /readyz to answer ready")
	fs.BoolVar(&o.WebBasicAuth, "web-basic-auth", false, "protect the web UI and API with basic auth")
	fs.StringVar(&o.WebUsername, "web-username", "atoll", "web UI basic auth user")
	fs.StringVar(&o.WebPassword, "web-password", "", "web UI basic auth password (prefer ATOLL_WEB_PASSWORD)")
	fs.StringVar(&o.APISecret, "api-secret", "", "secret scripts send as X-Atoll-Token to the JSON API")
	fs.IntVar(&o.MaxParallelJobs, "max-parallel-jobs", 4, "jobs run at once by this process")
	fs.DurationVar(&o.ReconcileEvery, "lock-reconcile-interval", 10*time.Minute, "how often locks of merged or closed pull requests are released")
	fs.StringVar(&o.NotifyURLs, "notify-url", "", "webhook URLs (comma-separated) that hear of applies, failed plans, drift and stale locks: Slack incoming webhooks (hooks.slack.com, or a slack+ prefix) or JSON endpoints. A secret: prefer ATOLL_NOTIFY_URL")
	fs.DurationVar(&o.NotifyLockStale, "notify-lock-stale-after", 24*time.Hour, "report a lock held longer than this to the notification targets (lock_stale); 0 never")
	fs.DurationVar(&o.LiveCommentDelay, "live-comment-delay", server.DefaultLiveCommentDelay, "how long a plan or apply runs before its \"running\" comment is posted (one finished sooner gets just its result comment); 0 posts it at once")
	fs.DurationVar(&o.AuditRetention, "audit-retention", server.DefaultAuditRetention, "how long audit trail entries are kept (older ones are dropped at each lock reconciliation)")
	fs.DurationVar(&o.PRPollEvery, "pr-poll-interval", 5*time.Minute, "how often the open pull requests of the repositories seen are listed, to plan a head commit a missed webhook left unplanned and release locks of closed ones (0 turns it off)")
	fs.BoolVar(&o.EnablePolicies, "enable-policy-checks", false, "check every repo's plans against the policy sets in --repo-config (otherwise only repos with policy_check: true)")
	fs.BoolVar(&o.EnableRegexpCmd, "enable-regexp-cmd", false, "read -p in plan, apply and approve_policies comments as a regular expression over project names (anchored; allowed_regexp_prefixes in the repo config limits which may select several projects)")
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
	// Atlantis flags Atoll implements; the other Atlantis flags are
	// registered by registerAtlantisFlags.
	fs.StringVar(&o.GHAppKey, "gh-app-key", "", "GitHub App private key (PEM) itself, instead of --gh-app-key-file (prefer ATOLL_GH_APP_KEY: a flag is visible in /proc)")
	fs.StringVar(&o.ExecutableName, "executable-name", "atlantis", `first word of command comments; any other value than "atlantis" makes Atoll answer only to it (by default it answers to atoll and atlantis)`)
	fs.StringVar(&o.SSLCertFile, "ssl-cert-file", "", "serve HTTPS with this certificate (PEM; the server's, then intermediates), with --ssl-key-file")
	fs.StringVar(&o.SSLKeyFile, "ssl-key-file", "", "private key (PEM) of --ssl-cert-file")
	fs.BoolVar(&o.DisableAutoplan, "disable-autoplan", false, "do not plan opened or updated pull requests; plan only on `atoll plan` comments")
	fs.BoolVar(&o.DisableApplyAll, "disable-apply-all", false, "refuse `atoll apply` without -p, -d or -w")
	fs.StringVar(&o.AllowCommands, "allow-commands", atlantisAllowCommands, "comment commands that run (Atlantis names: "+atlantisCommands+"); help always does")
	fs.StringVar(&o.AutomergeMethod, "automerge-method", "", "how automerge merges: merge (default), squash or rebase")
	fs.StringVar(&o.RepoConfigJSON, "repo-config-json", "", "server-side repos.yaml as a JSON string, instead of --repo-config")
	fs.IntVar(&o.ParallelPoolSize, "parallel-pool-size", 4, "projects one command plans or applies at once when parallel_plan or parallel_apply is set")
	registerAtlantisFlags(fs)
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
	for _, u := range splitList(o.NotifyURLs) {
		if _, err := notify.ParseTarget(u); err != nil {
			errs = append(errs, fmt.Errorf("--notify-url: %w", err))
		}
	}
	if o.LogFormat != "" && o.LogFormat != "text" && o.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: use text or json", o.LogFormat))
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
	if o.DefaultTFVersion != "" && !defaultVersionRe.MatchString(o.DefaultTFVersion) {
		errs = append(errs, fmt.Errorf("--default-tf-version %q is not a version like 1.5.7", o.DefaultTFVersion))
	}
	for _, f := range []struct{ name, value string }{{"tf-download-url", o.TFDownloadURL}, {"tofu-download-url", o.TofuDownloadURL}} {
		if u, err := url.Parse(f.value); f.value != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil) {
			errs = append(errs, fmt.Errorf("--%s %q is not an http(s) URL without credentials", f.name, f.value))
		}
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
	errs = append(errs, o.validateAtlantis()...)
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

// defaultVersionRe is a --default-tf-version: an exact version, "v" allowed
// as in Atlantis.
var defaultVersionRe = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$`)

// downloadKeys reads --tf-download-key-file and --tofu-download-key-file.
func (o *serverOptions) downloadKeys() (tf, tofu string, err error) {
	read := func(flag, file string) (string, error) {
		if file == "" {
			return "", nil
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--%s: %w", flag, err)
		}
		return string(b), nil
	}
	if tf, err = read("tf-download-key-file", o.TFDownloadKeyFile); err != nil {
		return "", "", err
	}
	if tofu, err = read("tofu-download-key-file", o.TofuDownloadKeyFile); err != nil {
		return "", "", err
	}
	return tf, tofu, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level: %q is not debug, info, warn or error", s)
	}
	return l, nil
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

// secretFlags are the flags that hold secrets.
var secretFlags = map[string]bool{"gh-token": true, "gh-webhook-secret": true, "redis-password": true, "web-password": true, "api-secret": true,
	"notify-url": true, "gh-app-key": true, "slack-token": true}

// secrets are the secret values given as flags, environment variables or in
// the config file; build adds those it reads from files.
func (o *serverOptions) secrets() []string {
	return append([]string{o.GHToken, o.GHWebhookSecret, o.RedisPassword, o.WebPassword, o.APISecret, o.GHAppKey}, splitList(o.NotifyURLs)...)
}
