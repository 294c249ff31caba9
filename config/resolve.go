package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Resolved is the configuration in force for one repository and base branch: the
// server's repos.yaml merged with the repo's own config.
type Resolved struct {
	// RepoID is host/owner/name; BaseBranch the PR's base branch ("" for any).
	RepoID     string
	BaseBranch string
	// RepoConfigFile is the repo config file name the server asks for ("" for the
	// default lookup: atoll.yaml, then atlantis.yaml).
	RepoConfigFile string
	// ConfigFile is the repo config file that was merged, "" when the repo has none.
	ConfigFile string

	Automerge                 bool
	DeleteSourceBranchOnMerge bool
	ParallelPlan              bool
	ParallelApply             bool
	AbortOnExecutionOrderFail bool
	// LockQueue queues a plan blocked by another pull request's lock, to run
	// when that lock is released (repos.yaml lock_queue, on by default).
	LockQueue    bool
	Autodiscover Autodiscover
	// AutoplanModules plans the projects that use a changed local module.
	AutoplanModules bool
	// PreWorkflowHooks and PostWorkflowHooks run around every command.
	PreWorkflowHooks  []Hook
	PostWorkflowHooks []Hook
	// TeamAllowlist is the repo's team_allowlist from repos.yaml, nil when the
	// server-wide --gh-team-allowlist applies.
	TeamAllowlist         *TeamAllowlist
	AllowedRegexpPrefixes []string
	// Policies are the server's policy sets, nil when none are configured.
	Policies *Policies

	// ConfiguredProjects are the repo config's projects whose branch matches, fully
	// resolved, in the order written.
	ConfiguredProjects []Project
	// Defaults is the project template for discovered and ad hoc (-d) projects;
	// its Dir is "".
	Defaults Project

	// configured is the number of projects the repo config lists on any branch.
	configured int
}

// merged is the result of folding the matching repos.yaml entries.
type merged struct {
	repoConfigFile                                  string
	planReqs, applyReqs, importReqs                 []string
	workflow                                        string
	allowedOverrides, allowedWorkflows              []string
	allowCustomWorkflows, deleteSource, policyCheck bool
	customPolicyCheck, autoplanModules              bool
	applyOnMerge, lockQueue                         bool
	repoLocking                                     string
	autodiscover                                    *Autodiscover
	silence                                         []string
	preHooks, postHooks                             []Hook
	teamAllowlist                                   *TeamAllowlist
}

func (s *ServerConfig) fold(repoID, baseBranch string) merged {
	m := merged{
		planReqs: []string{}, applyReqs: []string{}, importReqs: []string{},
		workflow: "default", repoLocking: RepoLockingOnPlan, autoplanModules: true,
		lockQueue: true,
	}
	if s == nil {
		return m
	}
	for i := range s.Repos {
		r := &s.Repos[i]
		if !r.Matches(repoID, baseBranch) {
			continue
		}
		setValue(&m.repoConfigFile, r.RepoConfigFile)
		setSlice(&m.planReqs, r.PlanRequirements)
		setSlice(&m.applyReqs, r.ApplyRequirements)
		setSlice(&m.importReqs, r.ImportRequirements)
		setValue(&m.workflow, r.Workflow)
		setSlice(&m.allowedOverrides, r.AllowedOverrides)
		setSlice(&m.allowedWorkflows, r.AllowedWorkflows)
		setBool(&m.allowCustomWorkflows, r.AllowCustomWorkflows)
		setBool(&m.deleteSource, r.DeleteSourceBranchOnMerge)
		setBool(&m.applyOnMerge, r.ApplyOnMerge)
		setBool(&m.lockQueue, r.LockQueue)
		setBool(&m.policyCheck, r.PolicyCheck)
		setBool(&m.customPolicyCheck, r.CustomPolicyCheck)
		setBool(&m.autoplanModules, r.AutoplanModules)
		setValue(&m.repoLocking, r.RepoLocking)
		setValue(&m.autodiscover, r.Autodiscover)
		setSlice(&m.silence, r.SilencePRComments)
		setSlice(&m.preHooks, r.PreWorkflowHooks)
		setSlice(&m.postHooks, r.PostWorkflowHooks)
		setValue(&m.teamAllowlist, r.TeamAllowlist)
	}
	return m
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// setValue sets *dst to v when the entry set it: v is not "" or nil.
func setValue[T comparable](dst *T, v T) {
	var unset T
	if v != unset {
		*dst = v
	}
}

// setSlice sets *dst to v when the entry set it: v is not nil (an empty list
// that was written down still overrides).
func setSlice[T any](dst *[]T, v []T) {
	if v != nil {
		*dst = v
	}
}

// RepoConfigFile returns the repo config file name repos.yaml sets for the repo
// (repo_config_file), or "" for the default lookup.
func (s *ServerConfig) RepoConfigFile(repoID, baseBranch string) string {
	return s.fold(repoID, baseBranch).repoConfigFile
}

// Resolve merges the server config with a repo's config (rc is nil when the repo
// has none) for repoID (host/owner/name) and the PR's baseBranch. Later matching
// repos entries override earlier ones. A repo config that sets a key the server
// does not allow, defines workflows without allow_custom_workflows, or picks an
// unknown or disallowed workflow is refused with errors that point into the repo
// config and say who can allow it.
func (s *ServerConfig) Resolve(repoID string, baseBranch string, rc *RepoConfig) (*Resolved, error) {
	m := s.fold(repoID, baseBranch)
	r := &Resolved{
		RepoID:                    repoID,
		BaseBranch:                baseBranch,
		RepoConfigFile:            m.repoConfigFile,
		AutoplanModules:           m.autoplanModules,
		PreWorkflowHooks:          m.preHooks,
		PostWorkflowHooks:         m.postHooks,
		TeamAllowlist:             m.teamAllowlist,
		Autodiscover:              Autodiscover{Mode: AutodiscoverAuto},
		DeleteSourceBranchOnMerge: m.deleteSource,
		LockQueue:                 m.lockQueue,
	}
	if s != nil {
		r.Policies = s.Policies
	}
	var serverWorkflows map[string]Workflow
	if s != nil {
		serverWorkflows = s.Workflows
	}
	lookup := func(name string) (Workflow, bool) {
		if rc != nil && m.allowCustomWorkflows {
			if w, ok := rc.Workflows[name]; ok {
				return w, true
			}
		}
		if w, ok := serverWorkflows[name]; ok {
			return w, true
		}
		if name == "default" {
			return DefaultWorkflow(), true
		}
		return Workflow{}, false
	}
	serverWF, _ := lookup(m.workflow)
	r.Defaults = Project{
		Workspace:                 "default",
		Workflow:                  fillStages(serverWF),
		AutoplanEnabled:           true,
		WhenModified:              slices.Clone(DefaultWhenModified),
		PlanRequirements:          m.planReqs,
		ApplyRequirements:         m.applyReqs,
		ImportRequirements:        m.importReqs,
		RepoLocking:               m.repoLocking,
		SilencePRComments:         m.silence,
		DeleteSourceBranchOnMerge: m.deleteSource,
		ApplyOnMerge:              m.applyOnMerge,
		PolicyCheck:               m.policyCheck,
		CustomPolicyCheck:         m.customPolicyCheck,
	}
	if m.autodiscover != nil {
		r.Autodiscover = *m.autodiscover
	}
	if rc == nil {
		return r, nil
	}

	var errs ErrorList
	fail := func(path, format string, args ...any) {
		p := rc.keyPos(path)
		errs = append(errs, &Error{File: rc.File, Line: p.Line, Col: p.Col, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	r.ConfigFile = rc.File
	r.configured = len(rc.Projects)
	r.Automerge = deref(rc.Automerge)
	r.ParallelPlan = deref(rc.ParallelPlan)
	r.ParallelApply = deref(rc.ParallelApply)
	r.AbortOnExecutionOrderFail = deref(rc.AbortOnExecutionOrderFail)
	if rc.DeleteSourceBranchOnMerge != nil {
		r.DeleteSourceBranchOnMerge = *rc.DeleteSourceBranchOnMerge
		r.Defaults.DeleteSourceBranchOnMerge = *rc.DeleteSourceBranchOnMerge
	}
	if rc.ApplyOnMerge != nil {
		if contains(m.allowedOverrides, "apply_on_merge") {
			r.Defaults.ApplyOnMerge = *rc.ApplyOnMerge
		} else {
			fail("apply_on_merge", "the server does not allow repos to override apply_on_merge (an admin can add it to allowed_overrides in repos.yaml)")
		}
	}
	// The server's autodiscover, when any matching entry sets it, wins over the repo's.
	if rc.Autodiscover != nil && m.autodiscover == nil {
		r.Autodiscover = *rc.Autodiscover
	}
	r.AllowedRegexpPrefixes = rc.AllowedRegexpPrefixes
	if len(rc.Workflows) > 0 && !m.allowCustomWorkflows {
		fail("workflows", "the server does not allow this repo to define its own workflows (an admin can set allow_custom_workflows: true for it in repos.yaml)")
	}

	allowed := func(key string) bool {
		if contains(m.allowedOverrides, key) {
			return true
		}
		// repo_locking and repo_locks are two spellings of one setting.
		return (key == "repo_locking" && contains(m.allowedOverrides, "repo_locks")) ||
			(key == "repo_locks" && contains(m.allowedOverrides, "repo_locking"))
	}
	for i, rp := range rc.Projects {
		pp := index("projects", i)
		gate := func(key string, set bool) bool {
			if !set {
				return false
			}
			if !allowed(key) {
				fail(child(pp, key), "the server does not allow repos to override %s (an admin can add it to allowed_overrides in repos.yaml)", key)
				return false
			}
			return true
		}
		p := r.Defaults.clone()
		p.Configured = true
		p.Name, p.Dir, p.Workspace, p.Branch = rp.Name, rp.Dir, rp.Workspace, rp.Branch
		p.ExecutionOrderGroup = rp.ExecutionOrderGroup
		p.DependsOn = rp.DependsOn
		p.TerraformVersion, p.TerraformDistribution = rp.TerraformVersion, rp.TerraformDistribution
		if rp.AutoplanEnabled != nil {
			p.AutoplanEnabled = *rp.AutoplanEnabled
		}
		if rp.WhenModified != nil {
			p.WhenModified = rp.WhenModified
		}
		if gate("plan_requirements", rp.PlanRequirements != nil) {
			p.PlanRequirements = rp.PlanRequirements
		}
		if gate("apply_requirements", rp.ApplyRequirements != nil) {
			p.ApplyRequirements = rp.ApplyRequirements
		}
		if gate("import_requirements", rp.ImportRequirements != nil) {
			p.ImportRequirements = rp.ImportRequirements
		}
		if gate("delete_source_branch_on_merge", rp.DeleteSourceBranchOnMerge != nil) {
			p.DeleteSourceBranchOnMerge = *rp.DeleteSourceBranchOnMerge
		}
		if gate("apply_on_merge", rp.ApplyOnMerge != nil) {
			p.ApplyOnMerge = *rp.ApplyOnMerge
		}
		lockKey := "repo_locks"
		if _, written := rc.keys[child(pp, "repo_locking")]; written {
			lockKey = "repo_locking"
		}
		if gate(lockKey, rp.RepoLocking != "") {
			p.RepoLocking = rp.RepoLocking
		}
		if gate("policy_check", rp.PolicyCheck != nil) {
			p.PolicyCheck = *rp.PolicyCheck
		}
		if gate("custom_policy_check", rp.CustomPolicyCheck != nil) {
			p.CustomPolicyCheck = *rp.CustomPolicyCheck
		}
		if gate("silence_pr_comments", rp.SilencePRComments != nil) {
			p.SilencePRComments = rp.SilencePRComments
		}
		if gate("workflow", rp.Workflow != "") {
			w, ok := lookup(rp.Workflow)
			_, repoDefined := rc.Workflows[rp.Workflow]
			switch {
			case !ok && repoDefined:
				// Already refused above: the repo may not define workflows.
			case !ok:
				fail(child(pp, "workflow"), "workflow %q is not defined%s", rp.Workflow, definedList(mergeWF(serverWorkflows, rc.Workflows, m.allowCustomWorkflows)))
			case !(repoDefined && m.allowCustomWorkflows) && len(m.allowedWorkflows) > 0 && !contains(m.allowedWorkflows, rp.Workflow):
				fail(child(pp, "workflow"), "the server does not allow workflow %q for this repo (allowed: %s; an admin can add it to allowed_workflows in repos.yaml)", rp.Workflow, strings.Join(m.allowedWorkflows, ", "))
			default:
				p.Workflow = fillStages(w)
			}
		}
		if baseBranch != "" && p.Branch != "" {
			if re, err := regexp.Compile(p.Branch); err == nil && !re.MatchString(baseBranch) {
				continue
			}
		}
		r.ConfiguredProjects = append(r.ConfiguredProjects, p)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return r, nil
}

func mergeWF(server, repo map[string]Workflow, custom bool) map[string]Workflow {
	out := map[string]Workflow{}
	for k, v := range server {
		out[k] = v
	}
	if custom {
		for k, v := range repo {
			out[k] = v
		}
	}
	return out
}

// fillStages gives stages a workflow does not define the default workflow's steps.
func fillStages(w Workflow) Workflow {
	def := DefaultWorkflow()
	if w.Name == "" {
		w.Name = def.Name
	}
	if w.Plan == nil {
		w.Plan = def.Plan
	}
	if w.Apply == nil {
		w.Apply = def.Apply
	}
	if w.Import == nil {
		w.Import = def.Import
	}
	if w.PolicyCheck == nil {
		w.PolicyCheck = def.PolicyCheck
	}
	if w.StateRm == nil {
		w.StateRm = def.StateRm
	}
	return w
}

func deref(b *bool) bool { return b != nil && *b }
