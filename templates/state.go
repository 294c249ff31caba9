package templates

import (
	"fmt"
	"time"
)

// State command results, the values of StateData.Status.
const (
	// StateDone: terraform import or state rm succeeded.
	StateDone = "done"
)

// StateData is the data of the comment answering `atoll import` or
// `atoll state rm`. Status is StateDone or one of StatusError, StatusLocked
// and StatusRefused.
type StateData struct {
	// Command is "import" or "state rm".
	Command string
	// Project is the project the command ran in (Name, Dir, Workspace; for
	// StatusError also Step, ExitCode and Output; for StatusLocked Lock; for
	// StatusRefused Requirements and Reason).
	Project Project
	// Addresses are the resource addresses (one for import).
	Addresses []string
	// ImportID is the provider's ID of the imported resource.
	ImportID string
	// Status is StateDone, StatusError, StatusLocked or StatusRefused.
	Status string
	// Output is terraform's output of a command that succeeded.
	Output string
	// PlanDiscarded is set when the project's saved plan was discarded
	// because the state changed.
	PlanDiscarded bool
	// JobURL links to the job's log. Optional.
	JobURL string
	// LocksURL links to the Locks page. Optional.
	LocksURL string
	// Now is the render time, for "2 hours ago".
	Now time.Time
}

// State renders the answer to `atoll import` or `atoll state rm`.
func State(d StateData) (string, error) {
	return render("state", d)
}

// CancelledJob is one job `atoll cancel` (or a push) cancelled.
type CancelledJob struct {
	// What names the job: "plan of `network` (default)" for a running job,
	// "1 queued apply" for queued ones (grouped by the caller). Markdown,
	// shown as written.
	What string
	// Running is set for a job that was running (terraform got SIGINT), with
	// Ran how long it had run; a queued job never started.
	Running bool
	Ran     time.Duration
}

// CancelData is the data of the comment answering `atoll cancel`.
type CancelData struct {
	// User asked for the cancellation.
	User string
	// Jobs are the cancelled jobs, running ones first.
	Jobs []CancelledJob
	// Unanswered counts running jobs on other replicas that did not confirm
	// in time; they stop when they next check.
	Unanswered int
	// LocksURL links to the Locks page. Optional.
	LocksURL string
}

// RunningNote is said when a running job was stopped.
func (CancelData) RunningNote() string {
	return " Running jobs were stopped: terraform got an interrupt, so it could release its state lock."
}

// Cancel renders the answer to `atoll cancel`.
func Cancel(d CancelData) (string, error) {
	return render("cancel", d)
}

// JobCancelledData is the data of the note that replaces the comments of a
// job that was cancelled.
type JobCancelledData struct {
	// Command is what the job ran, as typed ("atoll plan -d network",
	// "autoplan").
	Command string
	// By is the user who cancelled it; empty when a push did.
	By string
	// HeadSHA is the new head commit that a push cancelled it for.
	HeadSHA string
	// Ran is how long the job had run.
	Ran time.Duration
	// Apply is set when the job was an apply: resources may be partly changed.
	Apply bool
}

// JobCancelled renders the note on a cancelled job's comments.
func JobCancelled(d JobCancelledData) (string, error) {
	return render("job-cancelled", d)
}

// seconds says how long d is, to the second: "12 s", "3 min 5 s".
func seconds(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	m, s := int(d/time.Minute), int((d%time.Minute)/time.Second)
	if s == 0 {
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d min %d s", m, s)
}

// shortSHA is a commit's first seven hex digits.
func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
