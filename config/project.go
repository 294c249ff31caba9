// Package config reads Atoll's configuration files: a repository's atoll.yaml (or an
// Atlantis atlantis.yaml v3, read as-is) and the server-side repos.yaml. It parses,
// validates with file:line:column errors, merges server and repo settings, and finds
// which projects a pull request touches. It runs nothing. Files of a pull
// request's working copy are read only through checkout (repo_files.go), which
// stays inside the repository and caps what it reads.
package config

import "time"

// Requirement names, as in Atlantis.
const (
	ReqApproved       = "approved"
	ReqMergeable      = "mergeable"
	ReqUndiverged     = "undiverged"
	ReqPoliciesPassed = "policies_passed"
)

// Project is one Terraform project: a directory and workspace in a repository, with
// the settings that apply to it after merging server and repo config.
type Project struct {
	// Name is the project's name, "" when the config gives none.
	Name string
	// Dir is the directory relative to the repo root, cleaned, "." for the root.
	Dir string
	// Workspace is the Terraform workspace, "default" when unset.
	Workspace string
	// Branch, when set, is a regular expression the PR's base branch must match.
	Branch string
	// Workflow is the workflow to run.
	Workflow Workflow
	// TerraformVersion is the wanted version ("" for the server's default):
	// an exact version ("1.5.7", from terraform_version or an exact
	// required_version) or, from required_version, a constraint
	// (">= 1.5, < 1.7") the runner resolves to the newest release that
	// satisfies it.
	TerraformVersion string
	// TerraformDistribution is "terraform" or "opentofu" ("" for the default).
	TerraformDistribution string
	// AutoplanEnabled says whether the project plans on PR open/push.
	AutoplanEnabled bool
	// WhenModified are doublestar globs relative to Dir that trigger autoplan.
	WhenModified []string
	// PlanRequirements, ApplyRequirements and ImportRequirements are Req* names.
	PlanRequirements   []string
	ApplyRequirements  []string
	ImportRequirements []string
	// ExecutionOrderGroup orders plans and applies; lower groups run first.
	ExecutionOrderGroup int
	// DependsOn names projects that must be applied before this one.
	DependsOn []string
	// RepoLocking is "on_plan" (default), "on_apply" or "disabled".
	RepoLocking string
	// SilencePRComments lists stages ("plan", "apply") whose comments are not posted.
	SilencePRComments []string
	// DeleteSourceBranchOnMerge deletes the PR's head branch when Atoll merges it.
	DeleteSourceBranchOnMerge bool
	// ApplyOnMerge applies the project's reviewed plan when its pull request
	// is merged (apply_on_merge), after re-planning the merge commit.
	ApplyOnMerge bool
	// PolicyCheck says whether policy checks run after plan.
	PolicyCheck bool
	// CustomPolicyCheck allows policy tools other than conftest in custom workflows.
	CustomPolicyCheck bool
	// Configured is true when the project comes from the repo config's projects list,
	// false when it was discovered or named ad hoc with -d.
	Configured bool
}

// DefaultWhenModified is the autoplan trigger used when a project sets none.
var DefaultWhenModified = []string{"**/*.tf*", "**/terragrunt.hcl", "**/.terraform.lock.hcl"}

// Workflow is a named list of steps for each stage.
type Workflow struct {
	Name   string
	Plan   []Step
	Apply  []Step
	Import []Step
	// PolicyCheck and StateRm are the Atlantis policy_check and state_rm stages.
	PolicyCheck []Step
	StateRm     []Step
}

// Step kinds.
const (
	StepInit     = "init"
	StepPlan     = "plan"
	StepApply    = "apply"
	StepShow     = "show"
	StepRun      = "run"
	StepEnv      = "env"
	StepMultiEnv = "multienv"
	StepImport   = "import"
	StepPolicy   = "policy_check"
	StepStateRm  = "state_rm"
	StepVersion  = "version"
)

// Step is one step of a workflow stage.
type Step struct {
	// Kind is one of the Step* constants.
	Kind string
	// ExtraArgs are appended to the terraform command (init, plan, apply, show, import).
	ExtraArgs []string
	// Run is the shell command of a run step, or the command whose output is an env
	// step's value or a multienv step's NAME=value list.
	Run string
	// Output is "show" (default), "hide" or "strip_refreshing" for run steps.
	Output string
	// Shell and ShellArgs run Run; defaults are "sh" and ["-c"].
	Shell     string
	ShellArgs []string
	// EnvName and EnvValue set a variable for later steps (env step with value).
	EnvName  string
	EnvValue string
	// FilterRegex lists regular expressions whose matches are replaced by
	// "<redacted>" in a run step's output (Atlantis output: [filter_regex: ...]).
	FilterRegex []string
	// Timeout bounds how long the step may run (timeout: 30m, an Atoll
	// extension); 0 leaves it to the server's step timeout.
	Timeout time.Duration
}

// DefaultWorkflow is the workflow used when nothing else is configured:
// plan runs init then plan; apply runs apply; import runs init then import;
// policy_check runs show then policy_check; state_rm runs init then state_rm.
func DefaultWorkflow() Workflow {
	return Workflow{
		Name:        "default",
		Plan:        []Step{{Kind: StepInit}, {Kind: StepPlan}},
		Apply:       []Step{{Kind: StepApply}},
		Import:      []Step{{Kind: StepInit}, {Kind: StepImport}},
		PolicyCheck: []Step{{Kind: StepShow}, {Kind: StepPolicy}},
		StateRm:     []Step{{Kind: StepInit}, {Kind: StepStateRm}},
	}
}
