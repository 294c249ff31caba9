// This file holds every `atlantis server` flag that names no other VCS
// (GitLab, Bitbucket, Azure DevOps, Gitea) and no Terraform Cloud/Enterprise
// (tfe-*), and what `atoll server` does with it: an Atlantis deployment's
// flags, ATLANTIS_* variables and --config keys either work or stop the
// start-up with a message naming the Atoll way. None is ignored silently.

package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// atlantisKind is what Atoll does with an Atlantis flag.
type atlantisKind int

const (
	// kindSame: an Atoll flag of that name with that meaning.
	kindSame atlantisKind = iota
	// kindAlias: another name of the Atoll flag in Target.
	kindAlias
	// kindImplemented: an Atoll flag of that name, added for Atlantis
	// deployments, that does what Atlantis does (Note says how).
	kindImplemented
	// kindNoop: accepted with any value and changes nothing, because Atoll
	// already behaves as the flag asks, or the flag only serves a feature
	// Atoll has no need of (Note says why). Start-up logs each one set.
	kindNoop
	// kindRefused: start-up fails with Note when the flag is set to a value
	// not in Accept (the values that describe what Atoll does anyway).
	kindRefused
)

func (k atlantisKind) String() string {
	return [...]string{"same", "alias", "implemented", "no-op", "refused"}[k]
}

// atlantisFlag is one `atlantis server` flag.
type atlantisFlag struct {
	Name string
	Kind atlantisKind
	// Target is the Atoll flag an alias sets.
	Target string
	// Bool flags take true or false, and mean true when given alone.
	Bool bool
	// Default is Atlantis' default, shown by --help for flags Atoll
	// registers only for Atlantis deployments.
	Default string
	// Accept are the values a refused flag may be set to: they describe
	// what Atoll does anyway, so they are accepted and logged.
	Accept []string
	// Secret values are never echoed.
	Secret bool
	// Note is what Atoll does: for refused flags the message start-up fails
	// with, naming the Atoll way.
	Note string
}

// notYet starts the message of a feature Atoll plans but does not have.
const notYet = "not supported yet: "

// atlantisFlags is every flag of `atlantis server` that names no other VCS
// and no tfe-*, in Atlantis' alphabetical order of the docs. The test data
// testdata/atlantis_server_flags.txt holds the names as read from Atlantis.
var atlantisFlags = []atlantisFlag{
	{Name: "allow-commands", Kind: kindImplemented, Note: "only the listed comment commands run (plan, apply, unlock, approve_policies, import, state, cancel; all for every one); others get a comment saying they are disabled. version and policy_check are accepted names of commands Atoll does not have (its policy checks run as part of plan). Unset, or set to Atlantis' default, every command runs: import and state too, which Atlantis' default leaves out"},
	{Name: "allow-draft-prs", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"true"}, Note: notYet + "Atoll plans draft pull requests like any other (what --allow-draft-prs=true asks); skipping drafts is planned. Remove the flag or set it to true"},
	{Name: "allow-fork-prs", Kind: kindSame, Note: "plan and apply pull requests from forks (off by default)"},
	{Name: "api-secret", Kind: kindSame, Note: "scripts send it as X-Atoll-Token (or Authorization: Bearer), not X-Atlantis-Token"},
	{Name: "atlantis-url", Kind: kindAlias, Target: "atoll-url"},
	{Name: "autodiscover-mode", Kind: kindRefused, Default: "auto", Accept: []string{"auto"}, Note: "a server-wide mode is not supported: set autodiscover: {mode: enabled} (or disabled) in a repos.yaml entry (id: /.*/ for every repository) or in the repository's atlantis.yaml; Atoll's default is auto"},
	{Name: "automerge", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "a server-wide automerge; set automerge: true in each repository's atlantis.yaml (or atoll.yaml)"},
	{Name: "automerge-method", Kind: kindImplemented, Note: "automerge merges with merge (default), squash or rebase"},
	{Name: "autoplan-file-list", Kind: kindRefused, Default: atlantisAutoplanFiles, Accept: []string{"", atlantisAutoplanFiles}, Note: notYet + "a server-wide list; set autoplan.when_modified per project in atlantis.yaml (Atoll's default, **/*.tf*, **/terragrunt.hcl and **/.terraform.lock.hcl, covers Atlantis' old default, which is accepted)"},
	{Name: "autoplan-modules", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"true"}, Note: "Atoll always plans the projects that use a changed local module; turn that off per repository with autoplan_modules: false in repos.yaml"},
	{Name: "autoplan-modules-from-projects", Kind: kindRefused, Accept: []string{""}, Note: "Atoll indexes the local module calls of every project; turn that off per repository with autoplan_modules: false in repos.yaml"},
	{Name: "blocked-extra-args", Kind: kindRefused, Default: atlantisBlockedArgs, Accept: []string{"", atlantisBlockedArgs}, Note: "Atoll allows only the terraform flags `atoll help` lists after -- (-var, -var-file, -target, -replace, -refresh=false, -destroy, -refresh-only, -parallelism, -lock-timeout) and refuses every other, these four included; the list is not configurable"},
	{Name: "checkout-depth", Kind: kindRefused, Default: "0", Accept: []string{"0"}, Note: "Atoll keeps one full mirror per repository and fetches each pull request's head into it; the depth is not configurable"},
	{Name: "checkout-strategy", Kind: kindRefused, Default: "branch", Accept: []string{"branch"}, Note: notYet + "--checkout-strategy=merge; Atoll checks out the pull request's head commit, which is Atlantis' branch strategy"},
	{Name: "config", Kind: kindSame, Note: "a YAML file of flag values, keys are flag names (Atlantis keys work, including the ones in this table); ATOLL_CONFIG or ATLANTIS_CONFIG name it too"},
	{Name: "data-dir", Kind: kindSame, Note: "default ~/.atoll; Atoll's layout differs, so give it a new directory (locks and plans of Atlantis are not read)"},
	{Name: "default-tf-distribution", Kind: kindSame},
	{Name: "default-tf-version", Kind: kindSame, Note: "what a project that asks for no version runs: --tf-binary when it is that version, else the cached, --tf-bin-dir or downloaded one"},
	{Name: "disable-apply-all", Kind: kindImplemented, Note: "`atoll apply` without -p, -d or -w is refused on pull requests, with a comment saying so"},
	{Name: "disable-automerge-label", Kind: kindRefused, Accept: []string{""}, Note: notYet + "labels that turn automerge off; set automerge: false in the repository's atlantis.yaml"},
	{Name: "disable-autoplan", Kind: kindImplemented, Note: "opened and updated pull requests are not planned (nor heads the --pr-poll-interval poller finds unplanned); comment `atoll plan`"},
	{Name: "disable-autoplan-label", Kind: kindRefused, Accept: []string{""}, Note: notYet + "labels that turn autoplan off; use --disable-autoplan, or autoplan: {enabled: false} per project in atlantis.yaml"},
	{Name: "disable-global-apply-lock", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"true"}, Note: "Atoll has no global apply lock, so there is no button to remove (what --disable-global-apply-lock=true asks); use --allow-commands without apply to stop applies"},
	{Name: "disable-markdown-folding", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "Atoll always folds long output in <details> blocks"},
	{Name: "disable-repo-locking", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: "set repo_locks: {mode: disabled} in a repos.yaml entry instead (id: /.*/ for every repository)"},
	{Name: "disable-unlock-label", Kind: kindRefused, Accept: []string{""}, Note: notYet + "a label that keeps a pull request's locks; locks are released when it is merged or closed, by `atoll unlock` or from the Locks page"},
	{Name: "discard-approval-on-plan", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "dismissing reviews after a plan; Atoll's approved requirement already counts only approvals of the current commit, given after the last re-plan with different extra arguments"},
	{Name: "emoji-reaction", Kind: kindRefused, Accept: []string{""}, Note: notYet + "reacting to command comments; Atoll answers each command with a comment and commit statuses"},
	{Name: "enable-diff-markdown-format", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"true"}, Note: "Atoll always shows plans as diff blocks (what --enable-diff-markdown-format=true asks); remove the flag"},
	{Name: "enable-drift-detection", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: "Atoll's drift detection runs on a schedule and reports drift as issues: use --drift-repos and --drift-schedule, or drift: in repos.yaml (see docs/drift.md); /api/drift answers with the results"},
	{Name: "enable-drift-remediation", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: "use --drift-auto-remediate, or comment `atoll apply` on the drift issue (see docs/drift.md)"},
	{Name: "enable-external-stores", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: "Atoll keeps plan files in its own store: --data-dir, or Redis with --locking-db-type=redis so that any replica can apply"},
	{Name: "enable-policy-checks", Kind: kindSame, Note: "policies run in-process with OPA on the same .rego files, not with the conftest binary"},
	{Name: "enable-profiling-api", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: "not supported: Atoll serves no pprof endpoints; /metrics has Go runtime metrics"},
	{Name: "enable-regexp-cmd", Kind: kindSame, Note: "-p of plan, apply and approve_policies is a regular expression matched against whole project names (Go's RE2, at most 128 characters); allowed_regexp_prefixes works as in Atlantis, and a -p matching nothing gets a comment listing the projects"},
	{Name: "executable-name", Kind: kindImplemented, Note: "the first word of command comments; Atoll then answers only to that word (by default to both atoll and atlantis)"},
	{Name: "fail-on-pre-workflow-hook-error", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"true"}, Note: "Atoll always stops a command whose pre_workflow_hook fails (what --fail-on-pre-workflow-hook-error=true asks); remove the flag"},
	{Name: "gh-allow-mergeable-bypass-apply", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "mergeable with a required apply status"},
	{Name: "gh-app-id", Kind: kindSame},
	{Name: "gh-app-installation-id", Kind: kindSame, Note: "required with --gh-app-id: Atoll does not look up the App's installation when it is unset, as Atlantis does"},
	{Name: "gh-app-key", Kind: kindImplemented, Secret: true, Note: "the App's PEM private key itself (prefer ATLANTIS_GH_APP_KEY or --gh-app-key-file: a flag is visible in /proc)"},
	{Name: "gh-app-key-file", Kind: kindSame},
	{Name: "gh-app-slug", Kind: kindNoop, Note: "accepted and not needed: Atlantis uses it to find its own comments for --hide-prev-plan-comments, which Atoll does not do; set --gh-user to the App's bot login (SLUG[bot]) so that Atoll ignores its own comments"},
	{Name: "gh-hostname", Kind: kindSame},
	{Name: "gh-org", Kind: kindRefused, Accept: []string{""}, Note: "not supported: Atoll does not create GitHub Apps (/github-app/setup); create the App in GitHub's settings and pass --gh-app-id and --gh-app-key-file"},
	{Name: "gh-team-allowlist", Kind: kindSame, Note: "the same syntax, plus @user entries; on top of --command-permission (write by default)"},
	{Name: "gh-token", Kind: kindSame},
	{Name: "gh-token-file", Kind: kindSame, Note: "read once at start-up: restart Atoll after rotating the token"},
	{Name: "gh-user", Kind: kindSame},
	{Name: "gh-webhook-secret", Kind: kindSame, Note: "required (--allow-unsigned-webhooks to run without one)"},
	{Name: "help", Kind: kindSame, Note: "-h and --help print every flag"},
	{Name: "hide-prev-plan-comments", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "hiding earlier plan comments"},
	{Name: "hide-unchanged-plan-comments", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "leaving out plan comments without changes"},
	{Name: "ignore-vcs-status-names", Kind: kindRefused, Accept: []string{""}, Note: notYet + "it only matters with --gh-allow-mergeable-bypass-apply, which Atoll does not have"},
	{Name: "include-git-untracked-files", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "files made by pre_workflow_hooks do not count as modified for autoplan; comment `atoll plan -p NAME`"},
	{Name: "language", Kind: kindRefused, Default: "en", Accept: []string{"en"}, Note: notYet + "comments are in English only"},
	{Name: "language-config-file", Kind: kindRefused, Accept: []string{""}, Note: notYet + "comment text is built in"},
	{Name: "locking-db-type", Kind: kindSame, Note: "redis also shares the job queue, plans and job logs between replicas"},
	{Name: "log-level", Kind: kindSame},
	{Name: "markdown-template-overrides-dir", Kind: kindRefused, Default: atlantisTemplatesDir, Accept: []string{"", atlantisTemplatesDir}, Note: notYet + "overriding comment templates; Atoll's comments come from its built-in templates (Atlantis' default directory is accepted and not read)"},
	{Name: "max-comments-per-command", Kind: kindRefused, Default: "100", Accept: []string{"0", "100"}, Note: notYet + "a cap on the comments of one command; Atoll splits long output into as many comments as it needs"},
	{Name: "parallel-apply", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "a server-wide default; set parallel_apply: true in the repository's atlantis.yaml"},
	{Name: "parallel-plan", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "a server-wide default; set parallel_plan: true in the repository's atlantis.yaml"},
	{Name: "parallel-pool-size", Kind: kindImplemented, Note: "projects one command plans or applies at once with parallel_plan/parallel_apply; Atoll's default is 4, Atlantis' 15 (--max-parallel-jobs bounds whole jobs)"},
	{Name: "pending-apply-status", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "a pending apply status while plans wait to be applied (Atlantis does it for GitLab only and ignores the flag on GitHub)"},
	{Name: "port", Kind: kindSame},
	{Name: "quiet-policy-checks", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "policy results are part of the plan comment"},
	{Name: "redis-cluster-addresses", Kind: kindRefused, Accept: []string{""}, Note: "Redis Cluster is not supported: use one primary (with replicas for failover) and --redis-host, --redis-port"},
	{Name: "redis-db", Kind: kindSame},
	{Name: "redis-host", Kind: kindSame},
	{Name: "redis-insecure-skip-verify", Kind: kindSame},
	{Name: "redis-password", Kind: kindSame},
	{Name: "redis-port", Kind: kindSame},
	{Name: "redis-tls-enabled", Kind: kindSame},
	{Name: "redis-username", Kind: kindRefused, Accept: []string{""}, Note: notYet + "Redis ACL users; Atoll authenticates as the default user with --redis-password"},
	{Name: "repo-allowlist", Kind: kindSame, Note: "required; * matches any characters; !negated entries are not supported yet"},
	{Name: "repo-config", Kind: kindSame},
	{Name: "repo-config-json", Kind: kindImplemented, Note: "the server-side repos.yaml given as a JSON string (JSON is YAML), checked like the file; not with --repo-config"},
	{Name: "restrict-file-list", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "refusing plans of projects the pull request does not change"},
	{Name: "silence-allowlist-errors", Kind: kindNoop, Bool: true, Default: "false", Note: "accepted: Atoll never comments on a repository outside --repo-allowlist (the webhook gets 403), which is what true asks"},
	{Name: "silence-fork-pr-errors", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: "Atoll does not comment when it autoplans a fork pull request (it sets a failed status) and explains only when someone comments a command; that comment cannot be turned off"},
	{Name: "silence-no-projects", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "staying silent on pull requests that change no project"},
	{Name: "silence-vcs-status-no-plans", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "leaving out statuses when nothing was planned"},
	{Name: "silence-vcs-status-no-projects", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "leaving out statuses when no project changed"},
	{Name: "skip-clone-no-changes", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: notYet + "Atoll fetches every pull request into its mirror of the repository (an incremental fetch)"},
	{Name: "slack-token", Kind: kindRefused, Secret: true, Accept: []string{""}, Note: "Atoll posts to Slack through incoming webhooks: pass their URLs with --notify-url (or ATOLL_NOTIFY_URL)"},
	{Name: "ssl-cert-file", Kind: kindImplemented, Note: "serve HTTPS with this certificate chain (with --ssl-key-file)"},
	{Name: "ssl-key-file", Kind: kindImplemented, Note: "the private key of --ssl-cert-file"},
	{Name: "stats-namespace", Kind: kindRefused, Default: "atlantis", Accept: []string{"atoll"}, Note: "Atoll's metrics are Prometheus metrics at /metrics, named atoll_*; the namespace is fixed and there is no statsd"},
	{Name: "tf-distribution", Kind: kindAlias, Target: "default-tf-distribution"},
	{Name: "tf-download", Kind: kindSame, Note: "on by default: a missing version (terraform_version, or the newest release a required_version constraint allows) is downloaded, checked (signature and checksums) and cached in --data-dir/bin; false: the project fails naming the version. OpenTofu comes from --tofu-download-url"},
	{Name: "tf-download-url", Kind: kindSame, Note: "a mirror laid out like releases.hashicorp.com, signed with HashiCorp's key or the one in --tf-download-key-file"},
	{Name: "use-tf-plugin-cache", Kind: kindRefused, Bool: true, Default: "true", Accept: []string{"false"}, Note: "Atoll sets no shared plugin cache (what --use-tf-plugin-cache=false asks); to use one, set TF_PLUGIN_CACHE_DIR in the server's environment"},
	{Name: "var-file-allowlist", Kind: kindRefused, Accept: []string{""}, Note: "Atoll accepts -var-file only for files inside the repository (relative paths without ..); other directories cannot be allowed"},
	{Name: "vcs-status-name", Kind: kindRefused, Default: "atlantis", Accept: []string{"atoll"}, Note: notYet + "renaming statuses; they are atoll/plan, atoll/apply and atoll/policy_check, so update the required checks of branch protection"},
	{Name: "web-basic-auth", Kind: kindSame},
	{Name: "web-password", Kind: kindSame, Note: "no default (Atlantis': atlantis); required with --web-basic-auth"},
	{Name: "web-username", Kind: kindSame, Note: "default atoll (Atlantis': atlantis)"},
	{Name: "webhook-http-headers", Kind: kindRefused, Accept: []string{""}, Note: notYet + "extra headers on notifications; --notify-url targets get none"},
	{Name: "websocket-check-origin", Kind: kindNoop, Bool: true, Default: "false", Note: "accepted: Atoll streams job logs over plain HTTP, not websockets, and always refuses cross-site requests that change state"},
	{Name: "write-git-creds", Kind: kindRefused, Bool: true, Default: "false", Accept: []string{"false"}, Note: "Atoll never writes the token to disk (~/.git-credentials): git gets it through its environment only, for the clone, and terraform does not see it. Give terraform its own read-only credentials for private modules (for example a git credential helper in the server's environment)"},
}

// Atlantis defaults that refused flags accept.
const (
	atlantisAutoplanFiles = "**/*.tf,**/*.tfvars,**/*.tfvars.json,**/terragrunt.hcl,**/.terraform.lock.hcl"
	atlantisBlockedArgs   = "-chdir,--chdir,-plugin-dir,--plugin-dir"
	atlantisTemplatesDir  = "~/.markdown_templates"
	// atlantisCommands are the command names --allow-commands takes.
	atlantisCommands = "version,plan,apply,unlock,approve_policies,cancel,import,state,policy_check,revert,all"
	// atlantisAllowCommands is Atlantis' default --allow-commands.
	atlantisAllowCommands = "version,plan,apply,unlock,approve_policies,cancel"
)

// compatValue holds the value of an Atlantis flag Atoll registers only so
// that it can be refused, accepted as a no-op, or passed to its alias.
type compatValue struct {
	isBool bool
	value  string
}

func (v *compatValue) String() string {
	if v == nil {
		return ""
	}
	return v.value
}

// Set normalises booleans ("1", "T" → "true") so that Accept compares them.
func (v *compatValue) Set(s string) error {
	if v.isBool {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("must be true or false")
		}
		s = strconv.FormatBool(b)
	}
	v.value = s
	return nil
}

// IsBoolFlag lets a boolean be given alone (--write-git-creds).
func (v *compatValue) IsBoolFlag() bool { return v.isBool }

// registerAtlantisFlags registers the Atlantis flags that are aliases, no-ops
// or refused; the same and implemented ones are Atoll flags registered by
// serverOptions.register.
func registerAtlantisFlags(fs *flag.FlagSet) {
	for _, a := range atlantisFlags {
		var usage string
		switch a.Kind {
		case kindAlias:
			usage = "Atlantis' name of --" + a.Target
		case kindNoop:
			usage = "Atlantis flag: " + a.Note
		case kindRefused:
			usage = "Atlantis flag, refused unless " + acceptText(a) + ": " + a.Note
		default:
			continue
		}
		fs.Var(&compatValue{isBool: a.Bool, value: a.Default}, a.Name, usage)
	}
}

// acceptText says which values a refused flag accepts.
func acceptText(a atlantisFlag) string {
	var vals []string
	for _, v := range a.Accept {
		if v == "" {
			v = `""`
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return "unset"
	}
	return "unset or " + strings.Join(vals, " or ")
}

// settleAtlantisFlags runs after every source of flags (command line,
// ATOLL_*, ATLANTIS_*, --config) is read: an alias sets its Atoll flag, and
// a refused flag set to a value Atoll does not do fails with its message;
// every message at once. It returns the no-op and accepted flags that were
// set ("name=value"), for one start-up log line.
func settleAtlantisFlags(fs *flag.FlagSet) ([]string, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var accepted []string
	var errs []error
	for _, a := range atlantisFlags {
		if !set[a.Name] || a.Kind == kindSame || a.Kind == kindImplemented {
			continue
		}
		v := fs.Lookup(a.Name).Value.String()
		shown := v
		if a.Secret {
			shown = "(secret)"
		}
		switch a.Kind {
		case kindAlias:
			if set[a.Target] {
				if t := fs.Lookup(a.Target).Value.String(); t != v {
					errs = append(errs, fmt.Errorf("--%s=%q and --%s=%q disagree (from flags, ATOLL_*, ATLANTIS_* or --config): set only --%s", a.Name, v, a.Target, t, a.Target))
				}
				continue
			}
			if err := fs.Set(a.Target, v); err != nil {
				errs = append(errs, fmt.Errorf("--%s (Atlantis' name of --%s): %w", a.Name, a.Target, err))
			}
		case kindNoop:
			accepted = append(accepted, a.Name+"="+shown)
		case kindRefused:
			if slices.Contains(a.Accept, v) {
				accepted = append(accepted, a.Name+"="+shown)
				continue
			}
			errs = append(errs, fmt.Errorf("--%s=%s (an Atlantis flag): %s", a.Name, shown, a.Note))
		}
	}
	return accepted, errors.Join(errs...)
}

// parseAllowCommands turns --allow-commands into the comment commands Atoll
// runs; nil means every one.
func parseAllowCommands(s string) ([]string, error) {
	var out []string
	for _, c := range splitList(s) {
		c = strings.ToLower(c)
		switch {
		case c == "all":
			return nil, nil
		case !slices.Contains(strings.Split(atlantisCommands, ","), c):
			return nil, fmt.Errorf("--allow-commands: unknown command %q (commands: %s)", c, atlantisCommands)
		case c == "plan" || c == "apply" || c == "unlock" || c == "approve_policies" || c == "import" || c == "state" || c == "cancel" || c == "revert":
			out = append(out, c)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}
