package config

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Repo lock modes (repo_locks.mode; repo_locking: true/false maps to on_plan/disabled).
const (
	RepoLockingOnPlan   = "on_plan"
	RepoLockingOnApply  = "on_apply"
	RepoLockingDisabled = "disabled"
)

// Autodiscover modes.
const (
	AutodiscoverAuto     = "auto"
	AutodiscoverEnabled  = "enabled"
	AutodiscoverDisabled = "disabled"
)

var (
	requirementNames  = []string{ReqApproved, ReqMergeable, ReqUndiverged, ReqPoliciesPassed}
	repoLockModes     = []string{RepoLockingDisabled, RepoLockingOnPlan, RepoLockingOnApply}
	autodiscoverModes = []string{AutodiscoverAuto, AutodiscoverEnabled, AutodiscoverDisabled}
	silenceStages     = []string{"plan", "apply"}
	distributions     = []string{"terraform", "opentofu"}
)

// Autodiscover says when Atoll looks for projects that the config does not list.
type Autodiscover struct {
	// Mode is auto (only when no projects are configured), enabled or disabled.
	Mode string
	// IgnorePaths are doublestar globs of repo-relative paths never discovered.
	IgnorePaths []string
}

// RepoConfig is a parsed repo config file (atoll.yaml or atlantis.yaml), before it is
// merged with the server's settings. Optional settings are nil when not written.
type RepoConfig struct {
	// File is the name the config was parsed under; errors refer to it.
	File                      string
	Version                   int
	Automerge                 *bool
	DeleteSourceBranchOnMerge *bool
	ApplyOnMerge              *bool
	ParallelPlan              *bool
	ParallelApply             *bool
	AbortOnExecutionOrderFail *bool
	Autodiscover              *Autodiscover
	Projects                  []RepoProject
	// Workflows are the repo's custom workflows by name, nil when none are defined.
	Workflows             map[string]Workflow
	AllowedRegexpPrefixes []string

	// keys maps key paths to where they were written, for Resolve's errors.
	keys map[string]Pos
}

// RepoProject is one entry of a repo config's projects list as written. Slices are
// nil when the key is absent and non-nil (possibly empty) when it is set.
type RepoProject struct {
	Name                      string
	Branch                    string
	Dir                       string
	Workspace                 string
	ExecutionOrderGroup       int
	DependsOn                 []string
	DeleteSourceBranchOnMerge *bool
	ApplyOnMerge              *bool
	// RepoLocking is the mode from repo_locks or repo_locking, "" when unset.
	RepoLocking           string
	CustomPolicyCheck     *bool
	PolicyCheck           *bool
	AutoplanEnabled       *bool
	WhenModified          []string
	PlanRequirements      []string
	ApplyRequirements     []string
	ImportRequirements    []string
	TerraformVersion      string
	TerraformDistribution string
	Workflow              string
	SilencePRComments     []string
}

var repoTopKeys = []string{
	"version", "automerge", "delete_source_branch_on_merge", "apply_on_merge", "parallel_plan", "parallel_apply",
	"abort_on_execution_order_fail", "autodiscover", "projects", "workflows", "allowed_regexp_prefixes",
}

var projectKeys = []string{
	"name", "branch", "dir", "workspace", "execution_order_group", "depends_on",
	"delete_source_branch_on_merge", "apply_on_merge", "repo_locking", "repo_locks", "custom_policy_check", "policy_check",
	"autoplan", "plan_requirements", "apply_requirements", "import_requirements",
	"terraform_version", "terraform_distribution", "workflow", "silence_pr_comments",
}

// ParseRepoConfig parses and validates a repo config. file is the name used in
// errors ("atoll.yaml"). Every problem found is reported, as an *Error or an
// ErrorList sorted by position.
func ParseRepoConfig(file string, data []byte) (*RepoConfig, error) {
	d := newDecoder(file)
	rc := &RepoConfig{File: file, keys: d.keys}
	root := d.parseDocument(data)
	if root == nil {
		if len(d.errs) == 0 {
			d.errs = append(d.errs, &Error{File: file, Line: 1, Col: 1, Msg: "the file is empty; it needs at least `version: 3`"})
		}
		return nil, d.errs.err()
	}
	fields, _, ok := d.mapping(root, "", repoTopKeys)
	if !ok {
		return nil, d.errs.err()
	}
	if f, set := fields["version"]; !set {
		d.fail(root, "version", "required key is missing: add `version: 3`")
	} else if v, ok := d.integer(f.val, "version"); ok {
		if v != 3 {
			d.fail(resolve(f.val), "version", "must be 3, got %d", v)
		}
		rc.Version = v
	} else if isNull(f.val) {
		d.fail(resolve(f.val), "version", "must be 3")
	}
	optBool := func(key string) *bool { return d.optBool(fields, "", key) }
	rc.Automerge = optBool("automerge")
	rc.DeleteSourceBranchOnMerge = optBool("delete_source_branch_on_merge")
	rc.ApplyOnMerge = optBool("apply_on_merge")
	rc.ParallelPlan = optBool("parallel_plan")
	rc.ParallelApply = optBool("parallel_apply")
	rc.AbortOnExecutionOrderFail = optBool("abort_on_execution_order_fail")
	if f, set := fields["autodiscover"]; set {
		rc.Autodiscover = d.autodiscover(f.val, "autodiscover")
	}
	if f, set := fields["allowed_regexp_prefixes"]; set {
		rc.AllowedRegexpPrefixes, _ = d.strList(f.val, "allowed_regexp_prefixes")
	}
	if f, set := fields["workflows"]; set {
		rc.Workflows = d.workflows(f.val, "workflows")
	}
	if f, set := fields["projects"]; set && !isNull(f.val) {
		seq := resolve(f.val)
		if seq.Kind != yaml.SequenceNode {
			d.fail(seq, "projects", "must be a list of projects")
		} else {
			for i, pn := range seq.Content {
				if p, ok := d.project(pn, index("projects", i)); ok {
					rc.Projects = append(rc.Projects, p)
				} else {
					// Keep indexes aligned with the file for later checks.
					rc.Projects = append(rc.Projects, RepoProject{Dir: "\x00invalid"})
				}
			}
		}
	}
	d.checkProjects(rc)
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return rc, nil
}

func (d *decoder) autodiscover(v *yaml.Node, path string) *Autodiscover {
	if isNull(v) {
		return nil
	}
	fields, _, ok := d.mapping(v, path, []string{"mode", "ignore_paths"})
	if !ok {
		return nil
	}
	a := &Autodiscover{Mode: AutodiscoverAuto}
	if f, set := fields["mode"]; set {
		if m, ok := d.enum(f.val, child(path, "mode"), autodiscoverModes); ok {
			a.Mode = m
		}
	}
	if f, set := fields["ignore_paths"]; set {
		if list := d.globList(f.val, child(path, "ignore_paths")); list != nil {
			a.IgnorePaths = list
		}
	}
	return a
}

// globList decodes a list of doublestar globs, failing each invalid one at
// its own line and column; nil when v is not a list.
func (d *decoder) globList(v *yaml.Node, p string) []string {
	list, _ := d.strList(v, p)
	if list == nil {
		return nil
	}
	seq := resolve(v)
	for i, g := range list {
		if !validGlob(g) {
			d.fail(resolve(seq.Content[i]), index(p, i), "invalid glob %q", g)
		}
	}
	return list
}

var (
	versionRe     = regexp.MustCompile(`^v?\d+(\.\d+){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
	whitespaceRe  = regexp.MustCompile(`\s`)
	invalidDirTag = "\x00invalid"
)

// fullVersion reads terraform_version as Atlantis does (go-version): without
// "v", and with missing minor and patch numbers as 0 ("1.5" is 1.5.0).
func fullVersion(s string) string {
	s = strings.TrimPrefix(s, "v")
	core, rest := s, ""
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		core, rest = s[:i], s[i:]
	}
	for strings.Count(core, ".") < 2 {
		core += ".0"
	}
	return core + rest
}

func (d *decoder) project(v *yaml.Node, p string) (RepoProject, bool) {
	var rp RepoProject
	errsBefore := len(d.errs)
	fields, _, ok := d.mapping(v, p, projectKeys)
	if !ok {
		return rp, false
	}
	optBool := func(key string) *bool { return d.optBool(fields, p, key) }
	reqs := func(key string) []string {
		if f, set := fields[key]; set {
			list, _ := d.enumList(f.val, child(p, key), requirementNames)
			if list == nil && isNull(f.val) {
				return []string{}
			}
			return list
		}
		return nil
	}

	if f, set := fields["name"]; set {
		if s, ok := d.str(f.val, child(p, "name")); ok {
			switch {
			case s == "":
				d.fail(resolve(f.val), child(p, "name"), "must not be empty")
			case whitespaceRe.MatchString(s):
				d.fail(resolve(f.val), child(p, "name"), "must not contain spaces (it is used as `-p %s`)", s)
			default:
				rp.Name = s
			}
		}
	}
	if f, set := fields["branch"]; set {
		rp.Branch, _ = d.regex(f.val, child(p, "branch"))
	}
	if f, set := fields["dir"]; !set {
		d.fail(resolve(v), child(p, "dir"), "required key is missing")
	} else if s, ok := d.str(f.val, child(p, "dir")); ok {
		if clean, msg := cleanDir(s); msg != "" {
			d.fail(resolve(f.val), child(p, "dir"), "%s", msg)
		} else {
			rp.Dir = clean
		}
	} else if isNull(f.val) {
		d.fail(resolve(f.val), child(p, "dir"), "must be a directory relative to the repo root, or . for the root")
	}
	rp.Workspace = "default"
	if f, set := fields["workspace"]; set {
		if s, ok := d.str(f.val, child(p, "workspace")); ok {
			if s == "" || whitespaceRe.MatchString(s) {
				d.fail(resolve(f.val), child(p, "workspace"), "must be a workspace name without spaces")
			} else {
				rp.Workspace = s
			}
		}
	}
	if f, set := fields["execution_order_group"]; set {
		rp.ExecutionOrderGroup, _ = d.integer(f.val, child(p, "execution_order_group"))
	}
	if f, set := fields["depends_on"]; set {
		rp.DependsOn, _ = d.strList(f.val, child(p, "depends_on"))
	}
	rp.DeleteSourceBranchOnMerge = optBool("delete_source_branch_on_merge")
	rp.ApplyOnMerge = optBool("apply_on_merge")
	rp.RepoLocking = d.repoLocking(fields, p)
	rp.CustomPolicyCheck = d.customPolicyCheck(fields, p)
	rp.PolicyCheck = optBool("policy_check")
	if f, set := fields["autoplan"]; set && !isNull(f.val) {
		ap := child(p, "autoplan")
		if af, _, ok := d.mapping(f.val, ap, []string{"enabled", "when_modified"}); ok {
			if e, set := af["enabled"]; set {
				if b, ok := d.boolean(e.val, child(ap, "enabled")); ok {
					rp.AutoplanEnabled = &b
				}
			}
			if w, set := af["when_modified"]; set {
				wp := child(ap, "when_modified")
				if list, _ := d.strList(w.val, wp); list != nil {
					seq := resolve(w.val)
					for i, g := range list {
						if !validGlob(strings.TrimPrefix(g, "!")) {
							d.fail(resolve(seq.Content[i]), index(wp, i), "invalid glob %q", g)
						}
					}
					rp.WhenModified = list
				}
			}
		}
	}
	rp.PlanRequirements = reqs("plan_requirements")
	rp.ApplyRequirements = reqs("apply_requirements")
	rp.ImportRequirements = reqs("import_requirements")
	if f, set := fields["terraform_version"]; set {
		if s, ok := d.str(f.val, child(p, "terraform_version")); ok {
			if !versionRe.MatchString(s) {
				d.fail(resolve(f.val), child(p, "terraform_version"), "%q is not a version; use an exact version such as 1.5.7 (a constraint such as >= 1.5 goes in the project's required_version)", s)
			} else {
				rp.TerraformVersion = fullVersion(s)
			}
		}
	}
	if f, set := fields["terraform_distribution"]; set {
		rp.TerraformDistribution, _ = d.enum(f.val, child(p, "terraform_distribution"), distributions)
	}
	if f, set := fields["workflow"]; set {
		if s, ok := d.str(f.val, child(p, "workflow")); ok && d.nonEmpty(resolve(f.val), child(p, "workflow"), s) {
			rp.Workflow = s
		}
	}
	if f, set := fields["silence_pr_comments"]; set {
		rp.SilencePRComments, _ = d.enumList(f.val, child(p, "silence_pr_comments"), silenceStages)
	}
	return rp, len(d.errs) == errsBefore
}

// repoLocking reads repo_locks {mode} or the older repo_locking (bool, or a mode).
// It returns "" when neither is set.
func (d *decoder) repoLocking(fields map[string]field, p string) string {
	lf, hasLocks := fields["repo_locks"]
	bf, hasBool := fields["repo_locking"]
	// With both, repo_locks wins, as in Atlantis (its docs' example sets both).
	if hasBool && (!hasLocks || isNull(lf.val)) {
		v := resolve(bf.val)
		if v != nil && v.Kind == yaml.ScalarNode && v.Tag == "!!str" && contains(repoLockModes, v.Value) {
			return v.Value
		}
		if isNull(v) {
			return ""
		}
		if v != nil && v.Kind == yaml.ScalarNode && (v.Tag == "!!bool" || v.Tag == "!!str") {
			if b, ok := d.boolean(v, child(p, "repo_locking")); ok {
				if b {
					return RepoLockingOnPlan
				}
				return RepoLockingDisabled
			}
			return ""
		}
		d.fail(v, child(p, "repo_locking"), "must be true, false or one of %s", quoteList(repoLockModes))
		return ""
	}
	if hasLocks && !isNull(lf.val) {
		lp := child(p, "repo_locks")
		if mf, _, ok := d.mapping(lf.val, lp, []string{"mode"}); ok {
			if m, set := mf["mode"]; set {
				mode, _ := d.enum(m.val, child(lp, "mode"), repoLockModes)
				return mode
			}
			return RepoLockingOnPlan
		}
	}
	return ""
}

// cleanDir validates a project directory and returns it cleaned ("." for the root),
// or a message saying what is wrong. An accepted directory is relative,
// slash-separated and path.Clean, with no ".." element, backslash or NUL byte, so
// it names a place inside the repository (symbolic links are checked when files
// are read; see checkout). It also validates repo_config_file names.
func cleanDir(s string) (string, string) {
	if s == "" {
		return "", "must be a directory relative to the repo root, or . for the root"
	}
	if strings.ContainsRune(s, 0) {
		return "", fmt.Sprintf("%q must not contain a NUL byte", s)
	}
	// The same characters a -d in a comment may not hold: a dir is quoted in
	// comments, and these would break out of the quoting.
	if strings.ContainsAny(s, "`<>") || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", fmt.Sprintf("%q has a character Atoll does not accept in a directory (` < > or a control character)", s)
	}
	if strings.Contains(s, "\\") {
		return "", fmt.Sprintf("%q must use / as the separator", s)
	}
	if strings.HasPrefix(s, "/") {
		return "", fmt.Sprintf("%q must be relative to the repo root, not absolute", s)
	}
	for _, part := range strings.Split(s, "/") {
		if part == ".." {
			return "", fmt.Sprintf("%q must stay inside the repo: it may not contain ..", s)
		}
	}
	return path.Clean(s), ""
}

// checkProjects runs the checks that span projects: duplicate names, dir and
// workspace pairs that need names, depends_on naming known projects, and
// workflow names that the repo's own workflows do not define (checked again in
// Resolve with the server's workflows).
func (d *decoder) checkProjects(rc *RepoConfig) {
	names := map[string]int{}
	type dw struct{ dir, ws string }
	byDW := map[dw][]int{}
	for i, p := range rc.Projects {
		if p.Dir == invalidDirTag {
			continue
		}
		if p.Name != "" {
			if first, dup := names[p.Name]; dup {
				d.failAt(d.keys[child(index("projects", i), "name")], child(index("projects", i), "name"),
					"project name %q is already used by projects[%d]; names must be unique", p.Name, first)
			} else {
				names[p.Name] = i
			}
		}
		if p.Dir != "" {
			k := dw{p.Dir, p.Workspace}
			byDW[k] = append(byDW[k], i)
		}
	}
	for k, idx := range byDW {
		if len(idx) < 2 {
			continue
		}
		for _, i := range idx {
			if rc.Projects[i].Name == "" {
				p := index("projects", i)
				d.failAt(d.keys[child(p, "dir")], p,
					"%d projects have dir %q and workspace %q; each of them needs a name so they can be told apart", len(idx), k.dir, k.ws)
			}
		}
	}
	for i, p := range rc.Projects {
		for j, dep := range p.DependsOn {
			path := index(child(index("projects", i), "depends_on"), j)
			switch {
			case dep == p.Name && p.Name != "":
				d.failAt(d.keys[child(index("projects", i), "depends_on")], path, "a project cannot depend on itself")
			case !hasName(names, dep):
				known := sortedKeys(names)
				d.failAt(d.keys[child(index("projects", i), "depends_on")], path,
					"no project is named %q%s", dep, knownNames(known))
			}
		}
	}
}

func hasName(names map[string]int, n string) bool {
	_, ok := names[n]
	return ok
}

func knownNames(known []string) string {
	if len(known) == 0 {
		return " (no project has a name)"
	}
	return " (projects: " + strings.Join(known, ", ") + ")"
}

// keyPos returns where a key path was written, or the file start when unknown.
func (rc *RepoConfig) keyPos(path string) Pos {
	if p, ok := rc.keys[path]; ok {
		return p
	}
	return Pos{}
}
