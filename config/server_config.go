package config

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/atollhq/atoll/notify"
)

// hookCommands are the commands whose runs check out the repository and run
// the workflow hooks.
var hookCommands = []string{"plan", "apply", "import", "state"}

// Keys a repos.yaml entry may list in allowed_overrides.
var overridableKeys = []string{
	"plan_requirements", "apply_requirements", "import_requirements", "workflow",
	"delete_source_branch_on_merge", "repo_locking", "repo_locks", "policy_check",
	"custom_policy_check", "silence_pr_comments", "apply_on_merge",
}

// Hook is a pre or post workflow hook: a command run in the repo's working copy
// before or after a command's workflows.
type Hook struct {
	Run         string
	Description string
	// Shell and ShellArgs run Run; defaults are "sh" and ["-c"].
	Shell     string
	ShellArgs []string
	// Commands limits the hook to these commands ("plan", "apply", ...); empty means all.
	Commands []string
}

// ServerRepo is one entry of repos.yaml's repos list as written. Optional settings
// are nil (or "") when not written; a later matching entry overrides only what it sets.
type ServerRepo struct {
	// ID is an exact repo ID (host/owner/name) or a /regex/.
	ID string
	// Branch is a regular expression (slashes removed) on the PR's base branch; "" matches all.
	Branch                    string
	RepoConfigFile            string
	PlanRequirements          []string
	ApplyRequirements         []string
	ImportRequirements        []string
	Workflow                  string
	AllowedOverrides          []string
	AllowedWorkflows          []string
	AllowCustomWorkflows      *bool
	DeleteSourceBranchOnMerge *bool
	// ApplyOnMerge (Atoll-only key apply_on_merge) applies reviewed plans
	// when their pull request is merged.
	ApplyOnMerge *bool
	// LockQueue (Atoll-only key lock_queue) queues a plan that finds a
	// project locked by another pull request, and runs it when the lock is
	// released; false refuses it, as Atlantis does. Nil means unset (on).
	LockQueue *bool
	// RepoLocking is the mode from repo_locks or repo_locking, "" when unset.
	RepoLocking       string
	PolicyCheck       *bool
	CustomPolicyCheck *bool
	Autodiscover      *Autodiscover
	SilencePRComments []string
	PreWorkflowHooks  []Hook
	PostWorkflowHooks []Hook
	// TeamAllowlist (Atoll-only key team_allowlist) replaces the server's
	// --gh-team-allowlist for matching repos.
	TeamAllowlist *TeamAllowlist
	// AutoplanModules (Atoll-only key autoplan_modules) turns module-aware autoplan
	// on or off; it is on by default.
	AutoplanModules *bool
	// Drift (Atoll-only key drift) checks the repo's default branch for
	// drift on a schedule; nil when not written.
	Drift *DriftSettings
	// Notify (Atoll-only key notify) sends the matching repositories'
	// events to these webhooks; nil when not written.
	Notify []notify.Target

	idRe     *regexp.Regexp
	branchRe *regexp.Regexp
}

// Matches says whether the entry applies to repoID and baseBranch ("" matches any
// branch).
func (r *ServerRepo) Matches(repoID, baseBranch string) bool {
	if r.idRe != nil {
		if !r.idRe.MatchString(repoID) {
			return false
		}
	} else if isRegexID(r.ID) {
		re, err := regexp.Compile(stripSlashes(r.ID))
		if err != nil || !re.MatchString(repoID) {
			return false
		}
	} else if r.ID != repoID {
		return false
	}
	if r.Branch == "" || baseBranch == "" {
		return true
	}
	re := r.branchRe
	if re == nil {
		var err error
		if re, err = regexp.Compile(r.Branch); err != nil {
			return false
		}
	}
	return re.MatchString(baseBranch)
}

func isRegexID(id string) bool {
	return len(id) >= 2 && strings.HasPrefix(id, "/") && strings.HasSuffix(id, "/")
}

type Metrics struct {
	StatsdHost, StatsdPort string
	PrometheusEndpoint     string
}

// TeamAuthz is repos.yaml's team_authz block: an external command that decides
// whether a user may run a command.
type TeamAuthz struct {
	Command string
	Args    []string
}

// ServerConfig is the parsed server-side repos.yaml.
type ServerConfig struct {
	// File is the name errors refer to.
	File string
	// Repos are the entries in the order written; later matches override earlier ones.
	Repos []ServerRepo
	// Workflows are the server's workflows by name; "default" replaces the built-in one.
	Workflows map[string]Workflow
	Policies  *Policies
	Metrics   *Metrics
	TeamAuthz *TeamAuthz
	// Warnings are keys that are valid but have no effect in Atoll (such as
	// conftest_version); the server logs them and `atoll validate` prints them.
	Warnings []*Error
}

// DefaultServerConfig is the configuration in force without --repo-config, as in
// Atlantis: every repo, the default workflow, no requirements, repo locks on plan,
// no overrides and no custom workflows.
func DefaultServerConfig() *ServerConfig {
	f := false
	return &ServerConfig{
		Repos: []ServerRepo{{
			ID:                   "/.*/",
			PlanRequirements:     []string{},
			ApplyRequirements:    []string{},
			ImportRequirements:   []string{},
			Workflow:             "default",
			AllowedOverrides:     []string{},
			AllowCustomWorkflows: &f,
			RepoLocking:          RepoLockingOnPlan,
			idRe:                 regexp.MustCompile(".*"),
		}},
	}
}

var serverTopKeys = []string{"repos", "workflows", "policies", "metrics", "team_authz"}

var serverRepoKeys = []string{
	"id", "branch", "repo_config_file", "plan_requirements", "apply_requirements", "import_requirements",
	"workflow", "allowed_overrides", "allowed_workflows", "allow_custom_workflows",
	"delete_source_branch_on_merge", "repo_locking", "repo_locks", "policy_check", "custom_policy_check",
	"autodiscover", "silence_pr_comments", "pre_workflow_hooks", "post_workflow_hooks",
	"team_allowlist", "autoplan_modules", "drift", "notify", "apply_on_merge",
	"lock_queue",
}

// ParseServerConfig parses and validates repos.yaml. An empty file is the default
// configuration.
func ParseServerConfig(file string, data []byte) (*ServerConfig, error) {
	d := newDecoder(file)
	sc := &ServerConfig{File: file}
	root := d.parseDocument(data)
	if root == nil {
		if err := d.errs.err(); err != nil {
			return nil, err
		}
		return sc, nil
	}
	fields, _, ok := d.mapping(root, "", serverTopKeys)
	if !ok {
		return nil, d.errs.err()
	}
	if f, set := fields["workflows"]; set {
		sc.Workflows = d.workflows(f.val, "workflows")
	}
	if f, set := fields["repos"]; set && !isNull(f.val) {
		seq := resolve(f.val)
		if seq.Kind != yaml.SequenceNode {
			d.fail(seq, "repos", "must be a list of repos")
		} else {
			for i, rn := range seq.Content {
				sc.Repos = append(sc.Repos, d.serverRepo(rn, index("repos", i), sc.Workflows))
			}
		}
	}
	if f, set := fields["policies"]; set && !isNull(f.val) {
		sc.Policies = d.policies(f.val, "policies")
	}
	if f, set := fields["metrics"]; set && !isNull(f.val) {
		sc.Metrics = d.metrics(f.val, "metrics")
	}
	if f, set := fields["team_authz"]; set && !isNull(f.val) {
		sc.TeamAuthz = d.teamAuthz(f.val, "team_authz")
	}
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	d.warns.sort()
	sc.Warnings = d.warns
	return sc, nil
}

func (d *decoder) serverRepo(v *yaml.Node, p string, workflows map[string]Workflow) ServerRepo {
	var r ServerRepo
	fields, _, ok := d.mapping(v, p, serverRepoKeys)
	if !ok {
		return r
	}
	optBool := func(key string) *bool { return d.optBool(fields, p, key) }
	reqs := func(key string) []string {
		if f, set := fields[key]; set {
			list, _ := d.enumList(f.val, child(p, key), requirementNames)
			return list
		}
		return nil
	}
	if f, set := fields["id"]; !set {
		d.fail(resolve(v), child(p, "id"), "required key is missing: use an exact ID such as github.com/acme/infra or a /regex/")
	} else if s, ok := d.str(f.val, child(p, "id")); ok {
		switch {
		case s == "":
			d.fail(resolve(f.val), child(p, "id"), "must not be empty")
		case isRegexID(s):
			re, err := regexp.Compile(stripSlashes(s))
			if err != nil {
				d.fail(resolve(f.val), child(p, "id"), "invalid regular expression %q: %s", s, regexpReason(err))
			} else {
				r.ID, r.idRe = s, re
			}
		case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/"):
			d.fail(resolve(f.val), child(p, "id"), "%q: a regex must start and end with /, an exact ID has neither", s)
		default:
			r.ID = s
		}
	}
	if f, set := fields["branch"]; set {
		if expr, ok := d.regex(f.val, child(p, "branch")); ok {
			r.Branch, r.branchRe = expr, regexp.MustCompile(expr)
		}
	}
	if f, set := fields["repo_config_file"]; set {
		if s, ok := d.str(f.val, child(p, "repo_config_file")); ok {
			if clean, msg := cleanDir(s); msg != "" || clean == "." {
				if msg == "" {
					msg = "must name a file"
				}
				d.fail(resolve(f.val), child(p, "repo_config_file"), "%s", strings.Replace(msg, "must be a directory", "must be a file", 1))
			} else {
				r.RepoConfigFile = clean
			}
		}
	}
	r.PlanRequirements = reqs("plan_requirements")
	r.ApplyRequirements = reqs("apply_requirements")
	r.ImportRequirements = reqs("import_requirements")
	if f, set := fields["workflow"]; set {
		if s, ok := d.str(f.val, child(p, "workflow")); ok && d.nonEmpty(resolve(f.val), child(p, "workflow"), s) {
			if _, defined := workflows[s]; !defined && s != "default" {
				d.fail(resolve(f.val), child(p, "workflow"), "workflow %q is not defined in workflows%s", s, definedList(workflows))
			} else {
				r.Workflow = s
			}
		}
	}
	if f, set := fields["allowed_overrides"]; set {
		r.AllowedOverrides, _ = d.enumList(f.val, child(p, "allowed_overrides"), overridableKeys)
	}
	if f, set := fields["allowed_workflows"]; set {
		wp := child(p, "allowed_workflows")
		if list, _ := d.strList(f.val, wp); list != nil {
			seq := resolve(f.val)
			for i, w := range list {
				if _, defined := workflows[w]; !defined && w != "default" {
					d.fail(resolve(seq.Content[i]), index(wp, i), "workflow %q is not defined in workflows%s", w, definedList(workflows))
				}
			}
			r.AllowedWorkflows = list
		}
	}
	r.AllowCustomWorkflows = optBool("allow_custom_workflows")
	r.DeleteSourceBranchOnMerge = optBool("delete_source_branch_on_merge")
	r.ApplyOnMerge = optBool("apply_on_merge")
	r.LockQueue = optBool("lock_queue")
	r.RepoLocking = d.repoLocking(fields, p)
	r.PolicyCheck = optBool("policy_check")
	r.CustomPolicyCheck = d.customPolicyCheck(fields, p)
	if f, set := fields["autodiscover"]; set {
		r.Autodiscover = d.autodiscover(f.val, child(p, "autodiscover"))
	}
	if f, set := fields["silence_pr_comments"]; set {
		r.SilencePRComments, _ = d.enumList(f.val, child(p, "silence_pr_comments"), silenceStages)
	}
	if f, set := fields["pre_workflow_hooks"]; set {
		r.PreWorkflowHooks = d.hooks(f.val, child(p, "pre_workflow_hooks"))
	}
	if f, set := fields["post_workflow_hooks"]; set {
		r.PostWorkflowHooks = d.hooks(f.val, child(p, "post_workflow_hooks"))
	}
	if f, set := fields["team_allowlist"]; set {
		r.TeamAllowlist = d.teamAllowlist(f.val, child(p, "team_allowlist"))
	}
	r.AutoplanModules = optBool("autoplan_modules")
	if f, set := fields["drift"]; set {
		r.Drift = d.drift(f.val, child(p, "drift"))
	}
	if f, set := fields["notify"]; set {
		r.Notify = d.notify(f.val, child(p, "notify"))
	}
	return r
}

func definedList(workflows map[string]Workflow) string {
	names := sortedKeys(workflows)
	if !contains(names, "default") {
		names = append([]string{"default"}, names...)
	}
	return " (defined: " + strings.Join(names, ", ") + ")"
}

// hooks decodes a list of workflow hooks; the result is non-nil when the key is set.
func (d *decoder) hooks(v *yaml.Node, p string) []Hook {
	out := []Hook{}
	if isNull(v) {
		return out
	}
	seq := resolve(v)
	if seq.Kind != yaml.SequenceNode {
		d.fail(seq, p, "must be a list of hooks (- run: <command>)")
		return out
	}
	for i, hn := range seq.Content {
		hp := index(p, i)
		fields, _, ok := d.mapping(hn, hp, []string{"run", "description", "shell", "shell_args", "shellArgs", "commands"})
		if !ok {
			continue
		}
		h := Hook{}
		f, set := fields["run"]
		if !set {
			d.fail(resolve(hn), child(hp, "run"), "required key is missing")
			continue
		}
		if s, ok := d.str(f.val, child(hp, "run")); ok && d.nonEmpty(resolve(f.val), child(hp, "run"), s) {
			h.Run = s
		}
		if f, set := fields["description"]; set {
			h.Description, _ = d.str(f.val, child(hp, "description"))
		}
		var st Step
		d.shellFields(fields, hp, &st)
		h.Shell, h.ShellArgs = st.Shell, st.ShellArgs
		if f, set := fields["commands"]; set {
			h.Commands = d.commandList(f.val, child(hp, "commands"))
			for _, c := range h.Commands {
				if !contains(hookCommands, c) {
					d.fail(resolve(f.val), child(hp, "commands"), "%q: Atoll runs workflow hooks only for %s, which check out the repository, so this hook would never run for %s", c, quoteList(hookCommands), c)
				}
			}
		}
		out = append(out, h)
	}
	return out
}

// commandList decodes "plan, apply" or [plan, apply] into command names.
func (d *decoder) commandList(v *yaml.Node, p string) []string {
	rv := resolve(v)
	var raw []string
	if rv != nil && rv.Kind == yaml.SequenceNode {
		raw, _ = d.strList(rv, p)
	} else if s, ok := d.str(rv, p); ok {
		for _, c := range strings.Split(s, ",") {
			if c = strings.TrimSpace(c); c != "" {
				raw = append(raw, c)
			}
		}
	}
	var out []string
	for _, c := range raw {
		if !contains(commandNames, c) {
			d.fail(rv, p, "%q is not a command; use %s%s", c, quoteList(commandNames), didYouMean(c, commandNames))
			continue
		}
		out = append(out, c)
	}
	return out
}

func (d *decoder) metrics(v *yaml.Node, p string) *Metrics {
	fields, _, ok := d.mapping(v, p, []string{"statsd", "prometheus"})
	if !ok {
		return nil
	}
	m := &Metrics{}
	if f, set := fields["statsd"]; set && !isNull(f.val) {
		sp := child(p, "statsd")
		if sf, _, ok := d.mapping(f.val, sp, []string{"host", "port"}); ok {
			if h, set := sf["host"]; set {
				m.StatsdHost, _ = d.str(h.val, child(sp, "host"))
			}
			if h, set := sf["port"]; set {
				m.StatsdPort, _ = d.str(h.val, child(sp, "port"))
			}
			d.fail(f.key, sp, "Atoll does not send statsd metrics: it serves Prometheus metrics at /metrics. Remove metrics.statsd and scrape /metrics (a statsd exporter can convert them if you need statsd)")
		}
	}
	if f, set := fields["prometheus"]; set && !isNull(f.val) {
		pp := child(p, "prometheus")
		if pf, _, ok := d.mapping(f.val, pp, []string{"endpoint"}); ok {
			if e, set := pf["endpoint"]; set {
				m.PrometheusEndpoint, _ = d.str(e.val, child(pp, "endpoint"))
				if m.PrometheusEndpoint != "" && m.PrometheusEndpoint != PrometheusEndpoint {
					d.fail(resolve(e.val), child(pp, "endpoint"), "%q: Atoll serves Prometheus metrics at %s only; set it to %s or remove it", m.PrometheusEndpoint, PrometheusEndpoint, PrometheusEndpoint)
				}
			}
		}
	}
	return m
}

func (d *decoder) teamAuthz(v *yaml.Node, p string) *TeamAuthz {
	fields, _, ok := d.mapping(v, p, []string{"command", "args"})
	if !ok {
		return nil
	}
	t := &TeamAuthz{}
	f, set := fields["command"]
	if !set {
		d.fail(resolve(v), child(p, "command"), "required key is missing")
	} else {
		t.Command, _ = d.str(f.val, child(p, "command"))
	}
	if f, set := fields["args"]; set {
		t.Args, _ = d.strList(f.val, child(p, "args"))
	}
	d.fail(resolve(v), p, "not supported yet: Atoll does not run an external authorization command. "+
		"Limit who may run which command with team_allowlist on the repos entry (\"ops:apply, *:plan\") or the server's --gh-team-allowlist and --command-permission")
	return t
}

// teamAllowlist decodes the Atoll-only team_allowlist: "team:cmd,team2:*" or a list
// of "team:cmd" entries.
func (d *decoder) teamAllowlist(v *yaml.Node, p string) *TeamAllowlist {
	rv := resolve(v)
	if isNull(rv) {
		return nil
	}
	var s string
	if rv.Kind == yaml.SequenceNode {
		list, ok := d.strList(rv, p)
		if !ok {
			return nil
		}
		s = strings.Join(list, ",")
	} else {
		var ok bool
		if s, ok = d.str(rv, p); !ok {
			return nil
		}
	}
	a, err := ParseTeamAllowlist(s)
	if err != nil {
		d.fail(rv, p, "%s", err.Error())
		return nil
	}
	return a
}
