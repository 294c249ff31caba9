package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/atollhq/atoll/config"
)

// Job is one workflow stage (plan, apply or import) of one project.
type Job struct {
	// Dir is the checkout root returned by Checkout.
	Dir string
	// ProjectDir is the project's directory relative to Dir, cleaned ("." for
	// the root). It must resolve, following symlinks, inside Dir.
	ProjectDir string
	// Workspace is the terraform workspace, "default" when empty.
	Workspace string
	// Steps are run in order; the first failure stops the job.
	Steps []config.Step
	// Terraform is the terraform binary (see Runner.TerraformBinary); "" for
	// the default.
	Terraform string
	// ExtraArgs come from the comment, already allowlisted by the caller. They
	// are appended to plan and apply (and import) after the step's own
	// extra_args. Only flags terraform-exec can express are accepted.
	ExtraArgs []string
	// PlanFile is the absolute path plan writes and apply reads (see
	// Runner.PlanPath). Required when a plan, show or apply step runs.
	PlanFile string
	// ImportAddress and ImportID are the resource address and provider ID of
	// an import step.
	ImportAddress, ImportID string
	// StateRmAddresses are the resource addresses a state_rm step removes
	// from the state (see state.go).
	StateRmAddresses []string
	// Env holds Atlantis-style variables for run steps (WORKSPACE, DIR,
	// PROJECT_NAME, PULL_NUM, HEAD_COMMIT, BASE_REPO_OWNER, ...). The runner
	// adds PLANFILE and SHOWFILE, DIR (the absolute project directory) and
	// WORKSPACE when missing, and whatever env and multienv steps set. Terraform
	// sees these too, except those terraform-exec manages itself (TF_VAR_*,
	// TF_CLI_ARGS*, TF_LOG*, TF_WORKSPACE, TF_INPUT, ...).
	Env map[string]string
	// Log receives the live output of every step; nil for none.
	Log io.Writer
	// Logger is the job's logger (with repo, pull and project attributes);
	// nil uses the runner's.
	Logger *slog.Logger
	// BeforeApply, when set, is called just before an apply step starts
	// terraform; an error fails the step without running it (the fencing
	// check of a lease held across replicas).
	BeforeApply func(ctx context.Context) error
}

// Result is what a job did.
type Result struct {
	// Steps holds one entry per step run, the failed one included.
	Steps []StepResult
	// Output is the text for the PR comment: each run step's output per its
	// output mode, the human-readable plan for plan, and the output of apply
	// and import, in step order. A failed step's output is in its StepError,
	// not here.
	Output string
	// Plan is set when a plan (or show) step ran.
	Plan *PlanSummary
}

// StepResult is one step's outcome.
type StepResult struct {
	// Kind is the step's kind (config.StepPlan, ...).
	Kind string
	// Output is the step's combined stdout and stderr (its last MaxStepOutput
	// bytes). Empty for env and multienv steps, whose output may be secret.
	Output string
	// ExitCode is the command's exit code; 0 for steps that ran no command, -1
	// when a command did not run to completion.
	ExitCode int
	// Duration is how long the step took.
	Duration time.Duration
}

// StepError is returned by Run when a step fails.
type StepError struct {
	// Step is the failed step's kind ("init", "plan", "run", ...).
	Step string
	// ExitCode is the command's exit code, or -1 when it did not exit (it
	// could not start, was cancelled, or the step failed before running it).
	ExitCode int
	// Output is the failed step's combined output (its tail).
	Output string
	// Err is the underlying error.
	Err error
}

// Error names the step, its exit code and the first line of the cause; the
// full output is in Output. A timeout says only that: "step plan timed out
// after 1h".
func (e *StepError) Error() string {
	msg, _, _ := strings.Cut(e.Err.Error(), "\n")
	if errors.Is(e.Err, ErrStepTimeout) {
		return msg
	}
	if e.ExitCode >= 0 {
		return fmt.Sprintf("%s step failed with exit code %d: %s", e.Step, e.ExitCode, msg)
	}
	return fmt.Sprintf("%s step failed: %s", e.Step, msg)
}

// Unwrap returns the underlying error, so errors.Is(err, context.Canceled) and
// errors.Is(err, ErrStepTimeout) work.
func (e *StepError) Unwrap() error { return e.Err }

// ErrStepTimeout is wrapped by the *StepError of a step that ran longer than
// its timeout (config.Step.Timeout, else Config.StepTimeout). Such an error
// also matches context.DeadlineExceeded.
var ErrStepTimeout = errors.New("step timed out")

// stepTimeoutError is the cause of a step context that timed out and the
// error of the step.
type stepTimeoutError struct {
	kind  string
	after time.Duration
}

func (e *stepTimeoutError) Error() string {
	return fmt.Sprintf("step %s timed out after %s", e.kind, formatDuration(e.after))
}

func (e *stepTimeoutError) Unwrap() []error {
	return []error{ErrStepTimeout, context.DeadlineExceeded}
}

// formatDuration is d.String() without its zero units: 1h, 5m, 1h30m, 1m30s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Run runs job's steps in order in its project directory. On failure it returns
// a *StepError (also for an invalid step) and the steps done so far; an invalid
// job (bad directory, workspace or plan file) is a plain error. Runs in one
// project directory are serialized, and a Checkout of the same worktree waits
// for running jobs. Each step runs for at most its timeout (see
// Config.StepTimeout); a step cut short by its timeout or by ctx returns once
// its processes are gone, at most Config.KillGrace later.
func (r *Runner) Run(ctx context.Context, job Job) (Result, error) {
	if job.Workspace == "" {
		job.Workspace = "default"
	}
	if err := validateJob(job); err != nil {
		return Result{}, fmt.Errorf("run job: %w", err)
	}
	root := filepath.Clean(job.Dir)
	defer r.worktrees.rlock(root)()
	projectDir, err := resolveProjectDir(root, job.ProjectDir)
	if err != nil {
		return Result{}, fmt.Errorf("run job: %w", err)
	}
	defer r.projects.lock(projectDir)()

	tfBin := job.Terraform
	if tfBin == "" {
		if tfBin, err = r.TerraformBinary(""); err != nil {
			return Result{}, fmt.Errorf("run job: %w", err)
		}
	}
	x := &execution{
		r:          r,
		job:        job,
		projectDir: projectDir,
		tfBin:      tfBin,
		shim:       r.cfg.Shim,
		stepEnv:    map[string]string{},
	}
	if job.Logger != nil {
		x.log = job.Logger
	} else {
		x.log = r.log.With("dir", job.ProjectDir, "workspace", job.Workspace)
	}
	var res Result
	var sections []string
	for _, step := range job.Steps {
		start := time.Now()
		timeout := step.Timeout
		if timeout <= 0 {
			timeout = r.stepTimeout
		}
		timedOut := &stepTimeoutError{kind: step.Kind, after: timeout}
		stepCtx, cancel := context.WithTimeoutCause(ctx, timeout, timedOut)
		var out *stepOut
		var err error
		if step.Kind == config.StepApply && job.BeforeApply != nil {
			if err = job.BeforeApply(stepCtx); err != nil {
				out = &stepOut{text: "apply not started: " + err.Error() + "\n", exitCode: -1}
				if job.Log != nil {
					_, _ = io.WriteString(job.Log, out.text)
				}
			}
		}
		if err == nil {
			out, err = x.runStepGuarded(stepCtx, step, &res)
		}
		cancel()
		sr := StepResult{Kind: step.Kind, Duration: time.Since(start)}
		if out != nil {
			sr.Output = out.text
			sr.ExitCode = out.exitCode
			if err == nil && out.section != "" {
				sections = append(sections, strings.TrimRight(out.section, "\n"))
			}
		}
		if err != nil && context.Cause(stepCtx) == error(timedOut) {
			// Whatever the step's command said on its way out, the cause is the
			// timeout; the output keeps what it printed, and says so too.
			err = timedOut
			sr.ExitCode = -1
			if sr.Output != "" && !strings.HasSuffix(sr.Output, "\n") {
				sr.Output += "\n"
			}
			sr.Output += timedOut.Error() + "\n"
			res.Steps = append(res.Steps, sr)
			res.Output = joinSections(sections)
			x.log.WarnContext(ctx, "step timed out", "step", step.Kind, "timeout", timeout, "duration", sr.Duration)
			return res, &StepError{Step: step.Kind, ExitCode: -1, Output: sr.Output, Err: err}
		}
		if err != nil {
			sr.ExitCode = exitCode(err)
			res.Steps = append(res.Steps, sr)
			res.Output = joinSections(sections)
			x.log.InfoContext(ctx, "step failed", "step", step.Kind, "exit_code", sr.ExitCode, "duration", sr.Duration)
			return res, &StepError{Step: step.Kind, ExitCode: sr.ExitCode, Output: sr.Output, Err: err}
		}
		res.Steps = append(res.Steps, sr)
		x.log.DebugContext(ctx, "step done", "step", step.Kind, "duration", sr.Duration)
	}
	res.Output = joinSections(sections)
	return res, nil
}

func joinSections(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return strings.Join(s, "\n\n") + "\n"
}

// stepOut is what a step produced: its captured output, the part of it for the
// comment, and its exit code.
type stepOut struct {
	text     string
	section  string
	exitCode int
}

// execution is the state of one Run: the environment env steps build up and
// the terraform handle.
type execution struct {
	r          *Runner
	job        Job
	projectDir string
	tfBin      string
	shim       string            // Config.Shim
	stepEnv    map[string]string // set by env and multienv steps
	log        *slog.Logger
	tf         *tfRun // created by the first terraform step
}

// runStepGuarded runs step with the calling goroutine locked to its OS thread,
// so that the processes it starts die with the server but not before (see
// runCommand), and, for terraform steps, with guardTerraform. terraform-exec
// starts terraform from the calling goroutine for every command the runner
// uses (none of them is a streaming -json command, which would start it from a
// goroutine of its own).
func (x *execution) runStepGuarded(ctx context.Context, step config.Step, res *Result) (*stepOut, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	switch step.Kind {
	case config.StepInit, config.StepPlan, config.StepShow, config.StepApply, config.StepImport, config.StepStateRm:
		var stop func()
		ctx, stop = x.guardTerraform(ctx)
		defer stop()
	}
	return x.runStep(ctx, step, res)
}

func (x *execution) runStep(ctx context.Context, step config.Step, res *Result) (*stepOut, error) {
	switch step.Kind {
	case config.StepInit:
		return x.initStep(ctx, step)
	case config.StepPlan:
		return x.planStep(ctx, step, res)
	case config.StepShow:
		return x.showStep(ctx, step, res)
	case config.StepApply:
		return x.applyStep(ctx, step)
	case config.StepImport:
		return x.importStep(ctx, step)
	case config.StepStateRm:
		return x.stateRmStep(ctx, step)
	case config.StepRun:
		return x.runShellStep(ctx, step)
	case config.StepEnv:
		return x.envStep(ctx, step)
	case config.StepMultiEnv:
		return x.multiEnvStep(ctx, step)
	default:
		return nil, fmt.Errorf("step kind %q is not supported by the runner", step.Kind)
	}
}

// baseEnv is Config.Env less what no child may see (Runner.env), then the
// job's variables, then the runner's own, then what env steps set; later
// entries win.
func (x *execution) baseEnv() []string {
	env := slices.Clone(x.r.env)
	if _, ok := x.job.Env["DIR"]; !ok {
		env = append(env, "DIR="+x.projectDir)
	}
	if _, ok := x.job.Env["WORKSPACE"]; !ok {
		env = append(env, "WORKSPACE="+x.job.Workspace)
	}
	for _, k := range sortedKeys(x.job.Env) {
		env = append(env, k+"="+x.job.Env[k])
	}
	if x.job.PlanFile != "" {
		env = append(env, "PLANFILE="+x.job.PlanFile, "SHOWFILE="+showFile(x.job.PlanFile))
	}
	env = append(env, "TF_IN_AUTOMATION=1")
	for _, k := range sortedKeys(x.stepEnv) {
		env = append(env, k+"="+x.stepEnv[k])
	}
	return env
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// showFile is where a show step writes the plan as JSON: next to the plan file.
func showFile(planFile string) string {
	return strings.TrimSuffix(planFile, ".tfplan") + ".json"
}

var (
	workspaceRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,89}$`)
	envNameRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func validateJob(job Job) error {
	if job.Dir == "" || !filepath.IsAbs(job.Dir) {
		return fmt.Errorf("checkout directory %q is not an absolute path", job.Dir)
	}
	if !filepath.IsLocal(job.ProjectDir) || filepath.Clean(job.ProjectDir) != job.ProjectDir {
		return fmt.Errorf("project directory %q must be a clean relative path inside the repository", job.ProjectDir)
	}
	if !workspaceRe.MatchString(job.Workspace) || strings.Contains(job.Workspace, "..") {
		return fmt.Errorf("workspace name %q is not allowed: use letters, digits, '_', '-' and '.'", job.Workspace)
	}
	needPlan := false
	for _, s := range job.Steps {
		switch s.Kind {
		case config.StepPlan, config.StepShow, config.StepApply:
			needPlan = true
		}
	}
	if needPlan && (job.PlanFile == "" || !filepath.IsAbs(job.PlanFile)) {
		return fmt.Errorf("plan file %q is not an absolute path", job.PlanFile)
	}
	for k := range job.Env {
		if !envNameRe.MatchString(k) {
			return fmt.Errorf("environment variable name %q is not valid", k)
		}
	}
	return nil
}

// resolveProjectDir returns the real path of root/rel after checking that it is
// a directory inside root's real path.
func resolveProjectDir(root, rel string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("resolve checkout directory: %w", err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(realRoot, rel))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("project directory %q does not exist", rel)
		}
		return "", fmt.Errorf("resolve project directory %q: %w", rel, err)
	}
	inside, err := filepath.Rel(realRoot, real)
	if err != nil || !filepath.IsLocal(inside) {
		return "", fmt.Errorf("project directory %q points outside the repository", rel)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("project directory %q: %w", rel, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("project directory %q is not a directory", rel)
	}
	return real, nil
}

// ShowFile returns where a show step writes the JSON form of planFile.
func ShowFile(planFile string) string { return showFile(planFile) }
