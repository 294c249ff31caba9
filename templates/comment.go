package templates

import (
	"strings"
	"time"
)

// Project statuses, the values of Project.Status.
const (
	// StatusPlanned is a successful plan with changes.
	StatusPlanned = "planned"
	// StatusNoChanges is a successful plan (or an apply) with nothing to do.
	StatusNoChanges = "no_changes"
	// StatusError is a failed step; Step, ExitCode and Output say what failed.
	StatusError = "error"
	// StatusLocked means another pull request holds the project's lock; Lock says which.
	StatusLocked = "locked"
	// StatusApplied is a successful apply.
	StatusApplied = "applied"
	// StatusRefused means a rule stopped the command; Reason and Requirements say which.
	StatusRefused = "refused"
)

// Resource actions, the values of Resource.Action.
const (
	ActionCreate  = "create"
	ActionUpdate  = "update"
	ActionDelete  = "delete"
	ActionReplace = "replace"
	ActionRead    = "read"
	ActionImport  = "import"
)

// Counts are the resource counts of a plan or apply, as Terraform reports them.
type Counts struct {
	// Add is the number of resources to create (replacements included).
	Add int
	// Change is the number of resources updated in place.
	Change int
	// Destroy is the number of resources to destroy (replacements included).
	Destroy int
	// Import is the number of resources to import (Terraform 1.5 import blocks).
	Import int
}

// Resource is one resource change of a plan.
type Resource struct {
	// Action is one of the Action* constants.
	Action string
	// Address is the resource address, for example `module.vpc.terraform_data.web["a"]`.
	Address string
}

// LockInfo describes a lock held by another pull request.
type LockInfo struct {
	// Pull is the number of the pull request holding the lock.
	Pull int
	// PullURL links to that pull request. Comments write "#12", which GitHub links
	// itself; PullURL is for renderings outside GitHub.
	PullURL string
	// User is the login that took the lock, "" when unknown.
	User string
	// Since is when the lock was taken.
	Since time.Time
	// QueuePosition is the plan's 1-based place in the lock's queue when it
	// was queued instead of refused (repos.yaml lock_queue), 0 when it was
	// refused.
	QueuePosition int
}

// Requirement is one apply (or plan) requirement and whether the pull request meets it.
type Requirement struct {
	// Name is the requirement, for example "approved" (config.Req* names).
	Name string
	// Met says whether the pull request meets it.
	Met bool
	// Detail says what is missing, for example "needs 1 approving review". Optional.
	Detail string
	// Source says where the requirement is set, for example
	// "the server's repos.yaml for `acme/*`" or "atoll.yaml". Optional.
	Source string
}

// Project is the result of one command for one project (a directory and workspace).
type Project struct {
	// Name is the project's name, "" when the config gives none (Dir is shown then).
	Name string
	// Dir is the project directory relative to the repo root, "." for the root.
	Dir string
	// Workspace is the Terraform workspace, "default" when unset.
	Workspace string
	// Status is one of the Status* constants.
	Status string
	// Counts are the resource counts of the plan or apply.
	Counts Counts
	// Resources lists the plan's resource changes, in Terraform's order.
	Resources []Resource
	// Output is Terraform's full output for this project: the plan text
	// (`terraform show` of the plan file), the apply output, or the failing step's output.
	Output string
	// Step is the step that failed, for StatusError: "init", "plan", "apply", or a
	// run hook ("run" or "run: ./check.sh").
	Step string
	// ExitCode is the failing step's exit code, for StatusError.
	ExitCode int
	// Lock is the lock another pull request holds, for StatusLocked.
	Lock *LockInfo
	// Reason says which rule refused the command and how to satisfy it, for
	// StatusRefused. It is shown as written (Markdown allowed).
	Reason string
	// Requirements are the requirements checked before an apply, for StatusRefused.
	Requirements []Requirement
	// ApplyCommand is the comment that applies this project, for example
	// "atoll apply -d network". Derived from Name, Dir and Workspace when empty.
	ApplyCommand string
	// PlanCommand is the comment that re-plans this project, for example
	// "atoll plan -d network". Derived from Name, Dir and Workspace when empty.
	PlanCommand string
	// Policies are the policy check results of a plan, one per policy set;
	// empty when no policy checks ran.
	Policies []PolicyResult
}

// PolicyResult is the result of one policy set for one plan.
type PolicyResult struct {
	// Set is the policy set's name.
	Set string
	// Passed is true when no policy of the set failed.
	Passed bool
	// Approved is true when enough policy owners approved the failures.
	Approved bool
	// Failures and Warnings are the policies' messages.
	Failures []string
	Warnings []string
	// Approvals is how many policy owners approved the failures so far, and
	// Needed how many must (approve_count; 0 counts as 1).
	Approvals int
	Needed    int
}

// ApprovalsNeeded is the most approvals a failing, unapproved policy set of
// the project still needs, 0 when none fails.
func (p Project) ApprovalsNeeded() int {
	n := 0
	for _, r := range p.Policies {
		if !r.Passed && !r.Approved {
			n = max(n, max(r.Needed, 1)-r.Approvals, 1)
		}
	}
	return n
}

// PolicyFailed reports whether any policy set failed without approval.
func (p Project) PolicyFailed() bool {
	for _, r := range p.Policies {
		if !r.Passed && !r.Approved {
			return true
		}
	}
	return false
}

// Label is how the project is named in comments: its name, else its directory.
func (p Project) Label() string {
	if p.Name != "" {
		return p.Name
	}
	if p.Dir == "" {
		return "."
	}
	return p.Dir
}

// WorkspaceName is the project's workspace, "default" when unset.
func (p Project) WorkspaceName() string {
	if p.Workspace == "" {
		return "default"
	}
	return p.Workspace
}

// ApplyCmd returns the command that applies this project (ApplyCommand or a derived one).
func (p Project) ApplyCmd() string {
	if p.ApplyCommand != "" {
		return p.ApplyCommand
	}
	return p.command("apply")
}

// PlanCmd returns the command that re-plans this project (PlanCommand or a derived one).
func (p Project) PlanCmd() string {
	if p.PlanCommand != "" {
		return p.PlanCommand
	}
	return p.command("plan")
}

// command builds "atoll VERB -p NAME" or "atoll VERB -d DIR [-w WS]".
func (p Project) command(verb string) string {
	var b strings.Builder
	b.WriteString("atoll " + verb)
	if p.Name != "" {
		b.WriteString(" -p " + p.Name)
		return b.String()
	}
	b.WriteString(" -d " + p.Label())
	if ws := p.WorkspaceName(); ws != "default" {
		b.WriteString(" -w " + ws)
	}
	return b.String()
}

// Comment is the data of a plan or apply comment: one comment per command run,
// re-rendered and edited in place as projects finish.
type Comment struct {
	// Command is "plan" or "apply". Plan and Apply set it when empty.
	Command string
	// Projects are the finished projects, in the order to show them.
	Projects []Project
	// JobURL links to the job's live log. Optional.
	JobURL string
	// LocksURL links to the Locks page. Optional.
	LocksURL string
	// Now is the time the comment is rendered, for "2 hours ago". Set it: with a
	// zero Now every lock reads "just now".
	Now time.Time
	// Running names the projects still running; while any are, the comment says so
	// and holds back the "apply" next step.
	Running []string
	// Next replaces the next step after a successful apply (by default: merge
	// the pull request), for example on a drift issue. Optional.
	Next string
	// Intro is a paragraph shown above the results, for example why Atoll
	// ran after a merge. Markdown, shown as written. Optional.
	Intro string
}

// HelpData is the data of the help comment.
type HelpData struct {
	// Error says what was wrong with the command, "" for `atoll help`.
	Error string
	// AllowedFlags are the extra Terraform flags the server accepts after `--`,
	// for example "-target" or "-var". Empty means none are allowed.
	AllowedFlags []string
}

// Released is one project whose lock or plan an unlock released.
type Released struct {
	// Name is the project's name, "" when it has none.
	Name string
	// Dir is the project directory.
	Dir string
	// Workspace is the Terraform workspace.
	Workspace string
	// Lock is true when a lock was released.
	Lock bool
	// Plan is true when a saved plan was discarded.
	Plan bool
	// HandedTo is the pull request the lock passed to from its queue, 0
	// when none was queued.
	HandedTo int
}

// Label is how the project is named: its name, else its directory.
func (r Released) Label() string {
	return Project{Name: r.Name, Dir: r.Dir}.Label()
}

// WorkspaceName is the workspace, "default" when unset.
func (r Released) WorkspaceName() string {
	return Project{Workspace: r.Workspace}.WorkspaceName()
}

// PlanCmd returns the command that plans the project again.
func (r Released) PlanCmd() string {
	return Project{Name: r.Name, Dir: r.Dir, Workspace: r.Workspace}.PlanCmd()
}

// UnlockData is the data of the comment answering `atoll unlock`.
type UnlockData struct {
	// Released lists what was released, in order. Empty means nothing was held.
	Released []Released
	// Dir and Workspace are set when the command named one (`atoll unlock -d DIR -w WS`).
	Dir       string
	Workspace string
	// LocksURL links to the Locks page. Optional.
	LocksURL string
	// Closed is "merged" or "closed" when the locks were released because the pull
	// request ended, "" for an `atoll unlock` command.
	Closed string
}

// HandedAll reports whether every released lock passed to a queued pull
// request, so no other can plan those projects now.
func (d UnlockData) HandedAll() bool {
	for _, r := range d.Released {
		if r.HandedTo == 0 {
			return false
		}
	}
	return len(d.Released) > 0
}

// RefusedData is the data of the comment for a command Atoll refused to run.
type RefusedData struct {
	// Command is the command as typed, for example "atoll apply -- -destroy".
	// "" when Atoll acted on its own (autoplan).
	Command string
	// Reason says which rule refused it. User-safe text; Markdown allowed.
	Reason string
	// Fix says how to satisfy the rule. Markdown allowed. Optional.
	Fix string
	// Details are lines shown verbatim in a code block, for example the config
	// errors as "atoll.yaml:12:5: unknown field \"workflws\"". Optional.
	Details []string
	// JobURL links to the job's log. Optional.
	JobURL string
}
