package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/atollhq/atoll/config"
	"github.com/hashicorp/terraform-exec/tfexec"
)

// tfRun is the terraform handle of one Run. tfexec sends every command's
// stdout and stderr to the two switch writers, which point at the current
// step's output (or elsewhere while JSON is read).
type tfRun struct {
	tf         *tfexec.Terraform
	stdout     *switchWriter
	stderr     *switchWriter
	wsSelected bool // the job's workspace is selected in the project directory
	warned     bool // the filtered-variables warning was logged
	shim       bool // terraform runs through the TF_VAR_ shim
}

// terraform returns the Run's terraform handle, its environment refreshed and
// its output going to out.
func (x *execution) terraform(ctx context.Context, out *stepOutput) (*tfexec.Terraform, error) {
	env := envMap(x.baseEnv())
	var vars map[string]string
	if x.shim != "" {
		vars = tfVars(env)
	}
	useShim := len(vars) > 0
	if dir, own := x.r.pluginCache(env); own {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create plugin cache: %w", err)
		}
		env["TF_PLUGIN_CACHE_DIR"] = dir
		// Only Atoll's inits write this cache, and each verified what it
		// downloaded; a repository without a lock file would otherwise
		// download every provider on every init (terraform 1.4+). The lock
		// file this writes stays untracked in the worktree and is never
		// committed, so its lack of other platforms' checksums harms nobody.
		if _, set := env["TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE"]; !set {
			env["TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE"] = "1"
		}
	}
	if x.tf == nil || x.tf.shim != useShim {
		bin := x.tfBin
		if useShim {
			bin = x.shim
		}
		t, err := x.r.tfHandle(x.projectDir, bin, useShim)
		if err != nil {
			return nil, err
		}
		// Whether the job's workspace is selected belongs to this run (the
		// worktree is cleaned between runs); a shim switch within the run keeps it.
		t.wsSelected = x.tf != nil && x.tf.wsSelected
		if x.tf != nil {
			t.warned = t.warned || x.tf.warned
		}
		x.tf = t
	}
	t := x.tf
	if dropped := tfexec.ProhibitedEnv(env); len(dropped) > 0 {
		for _, k := range dropped {
			delete(env, k)
		}
		slices.Sort(dropped)
		dropped = slices.DeleteFunc(dropped, func(k string) bool { return k == "TF_IN_AUTOMATION" })
		if len(dropped) > 0 && !t.warned {
			t.warned = true
			// Names only: values may be secrets.
			x.log.WarnContext(ctx, "terraform-exec manages these variables itself; not passing them to terraform", "names", dropped)
		}
	}
	if useShim {
		b, err := json.Marshal(vars)
		if err != nil {
			return nil, fmt.Errorf("encode TF_VAR_ variables: %w", err)
		}
		env[shimBinaryEnv], env[shimVarsEnv] = x.tfBin, string(b)
	}
	if err := t.tf.SetEnv(env); err != nil {
		return nil, fmt.Errorf("set terraform environment: %w", err)
	}
	// tfexec checks terraform's version before some commands and prints that
	// check to stdout: do it now, out of the step's output. It is cached.
	t.stdout.set(io.Discard)
	t.stderr.set(out)
	if _, _, err := t.tf.Version(ctx, false); err != nil {
		return nil, fmt.Errorf("terraform version: %w", err)
	}
	t.stdout.set(out)
	return t.tf, nil
}

// quiet runs fn with terraform's stdout discarded, for commands whose stdout is
// data (JSON, workspace names) rather than log.
func (x *execution) quiet(out io.Writer, fn func() error) error {
	x.tf.stdout.set(io.Discard)
	defer x.tf.stdout.set(out)
	return fn()
}

// ensureWorkspace selects the job's workspace, creating it if needed. It skips
// terraform when the workspace is "default" and no other one was ever selected
// in the directory.
func (x *execution) ensureWorkspace(ctx context.Context, tf *tfexec.Terraform, out *stepOutput) error {
	if x.tf.wsSelected {
		return nil
	}
	want := x.job.Workspace
	if want == "default" && !x.hasEnvironmentFile() {
		x.tf.wsSelected = true
		return nil
	}
	var current string
	var all []string
	err := x.quiet(out, func() error {
		var err error
		all, current, err = tf.WorkspaceList(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("list workspaces: %w", err)
	}
	switch {
	case current == want:
	case slices.Contains(all, want):
		if err := tf.WorkspaceSelect(ctx, want); err != nil {
			return fmt.Errorf("select workspace %q: %w", want, err)
		}
	default:
		if err := tf.WorkspaceNew(ctx, want); err != nil {
			return fmt.Errorf("create workspace %q: %w", want, err)
		}
	}
	x.tf.wsSelected = true
	return nil
}

// workspaceTerraform is terraform as x.terraform returns it, with the job's
// workspace selected.
func (x *execution) workspaceTerraform(ctx context.Context, out *stepOutput) (*tfexec.Terraform, error) {
	tf, err := x.terraform(ctx, out)
	if err != nil {
		return nil, err
	}
	if err := x.ensureWorkspace(ctx, tf, out); err != nil {
		return nil, err
	}
	return tf, nil
}

// hasEnvironmentFile reports whether terraform recorded a selected workspace in
// the project directory's data dir.
func (x *execution) hasEnvironmentFile() bool {
	dataDir := envValue(x.baseEnv(), "TF_DATA_DIR")
	if dataDir == "" {
		dataDir = ".terraform"
	}
	if !filepath.IsAbs(dataDir) {
		dataDir = filepath.Join(x.projectDir, dataDir)
	}
	_, err := os.Stat(filepath.Join(dataDir, "environment"))
	return err == nil
}

func (x *execution) initStep(ctx context.Context, step config.Step) (*stepOut, error) {
	out := newStepOutput(x.job.Log)
	res := func() *stepOut { return &stepOut{text: out.String()} }
	opts, err := stepArgs(step.ExtraArgs, tfArgs.initOptions)
	if err != nil {
		return res(), err
	}
	tf, err := x.terraform(ctx, out)
	if err != nil {
		return res(), err
	}
	// See init_cache.go: init is skipped when nothing it depends on changed.
	env := envMap(x.baseEnv())
	key := x.initKey(env, step.ExtraArgs)
	if x.initSkippable(env, key) {
		fmt.Fprintln(out, "Atoll: init skipped, nothing it depends on changed since the last init in this directory.")
		return res(), nil
	}
	if env["TF_DATA_DIR"] == "" {
		if err := x.forgetInit(); err != nil {
			return res(), err
		}
	}
	lockBefore := fileHash(filepath.Join(x.projectDir, lockFileName))
	cacheDir, _ := x.r.pluginCache(env)
	unlock, err := x.r.lockPluginCache(ctx, cacheDir)
	if err != nil {
		return res(), err
	}
	err = tf.Init(ctx, opts...)
	unlock()
	if err != nil {
		return res(), err
	}
	if env["TF_DATA_DIR"] == "" {
		if err := x.rememberInit(x.initKey(env, step.ExtraArgs), lockBefore); err != nil {
			return res(), err
		}
	}
	return res(), nil
}

func (x *execution) planStep(ctx context.Context, step config.Step, result *Result) (*stepOut, error) {
	out := newStepOutput(x.job.Log)
	res := func() *stepOut { return &stepOut{text: out.String()} }
	args := slices.Concat(step.ExtraArgs, x.job.ExtraArgs)
	opts, err := stepArgs(args, tfArgs.planOptions)
	opts = withLockTimeout(args, opts, func(d string) tfexec.PlanOption { return tfexec.LockTimeout(d) })
	if err != nil {
		return res(), err
	}
	tf, err := x.workspaceTerraform(ctx, out)
	if err != nil {
		return res(), err
	}
	// A failed plan must not leave an older plan behind for apply to find.
	if err := x.removePlan(); err != nil {
		return res(), err
	}
	if err := os.MkdirAll(filepath.Dir(x.job.PlanFile), 0o700); err != nil {
		return res(), fmt.Errorf("create plan directory: %w", err)
	}
	hasChanges, err := tf.Plan(ctx, append(opts, tfexec.Out(x.job.PlanFile))...)
	if err != nil {
		return res(), err
	}
	var human string
	err = x.quiet(out, func() error {
		// The JSON (counts, resources) and the human text take a terraform
		// show each, and each starts the providers: run the two at once.
		rawErr := make(chan error, 1)
		go func() { // waited for below
			runtime.LockOSThread() // so terraform dies with the server; see runStepGuarded
			defer runtime.UnlockOSThread()
			var err error
			human, err = tf.ShowPlanFileRaw(ctx, x.job.PlanFile)
			rawErr <- err
		}()
		plan, err := tf.ShowPlanFile(ctx, x.job.PlanFile)
		errRaw := <-rawErr
		if err != nil {
			return fmt.Errorf("read plan: %w", err)
		}
		if errRaw != nil {
			return fmt.Errorf("show plan: %w", errRaw)
		}
		result.Plan = summarizePlan(plan, hasChanges)
		return nil
	})
	if err != nil {
		return res(), err
	}
	return &stepOut{text: out.String(), section: human}, nil
}

func (x *execution) showStep(ctx context.Context, step config.Step, result *Result) (*stepOut, error) {
	out := newStepOutput(x.job.Log)
	res := func() *stepOut { return &stepOut{text: out.String()} }
	if len(step.ExtraArgs) > 0 {
		return res(), fmt.Errorf("show takes no extra arguments, got %q", step.ExtraArgs)
	}
	if err := planExists(x.job.PlanFile); err != nil {
		return res(), err
	}
	tf, err := x.workspaceTerraform(ctx, out)
	if err != nil {
		return res(), err
	}
	f, err := os.OpenFile(showFile(x.job.PlanFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return res(), fmt.Errorf("create show file: %w", err)
	}
	x.tf.stdout.set(f)
	plan, err := tf.ShowPlanFile(ctx, x.job.PlanFile)
	x.tf.stdout.set(out)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write show file: %w", cerr)
	}
	if err != nil {
		return res(), err
	}
	if result.Plan == nil {
		result.Plan = summarizePlan(plan, false)
	}
	return res(), nil
}

func (x *execution) applyStep(ctx context.Context, step config.Step) (*stepOut, error) {
	out := newStepOutput(x.job.Log)
	res := func() *stepOut { return &stepOut{text: out.String()} }
	args := slices.Concat(step.ExtraArgs, x.job.ExtraArgs)
	opts, err := stepArgs(args, tfArgs.applyOptions)
	opts = withLockTimeout(args, opts, func(d string) tfexec.ApplyOption { return tfexec.LockTimeout(d) })
	if err != nil {
		return res(), err
	}
	if err := planExists(x.job.PlanFile); err != nil {
		return res(), err
	}
	tf, err := x.workspaceTerraform(ctx, out)
	if err != nil {
		return res(), err
	}
	if err := tf.Apply(ctx, append(opts, tfexec.DirOrPlan(x.job.PlanFile))...); err != nil {
		return res(), err
	}
	// An applied plan is spent: terraform would refuse it as stale.
	if err := x.removePlan(); err != nil {
		return res(), err
	}
	text := out.String()
	return &stepOut{text: text, section: text}, nil
}

func (x *execution) importStep(ctx context.Context, step config.Step) (*stepOut, error) {
	out := newStepOutput(x.job.Log)
	res := func() *stepOut { return &stepOut{text: out.String()} }
	if x.job.ImportAddress == "" || x.job.ImportID == "" {
		return res(), errors.New("import needs a resource address and an ID")
	}
	if strings.HasPrefix(x.job.ImportAddress, "-") {
		return res(), fmt.Errorf("import address %q is not a resource address", x.job.ImportAddress)
	}
	args := slices.Concat(step.ExtraArgs, x.job.ExtraArgs)
	opts, err := stepArgs(args, tfArgs.importOptions)
	opts = withLockTimeout(args, opts, func(d string) tfexec.ImportOption { return tfexec.LockTimeout(d) })
	if err != nil {
		return res(), err
	}
	tf, err := x.workspaceTerraform(ctx, out)
	if err != nil {
		return res(), err
	}
	if err := tf.Import(ctx, x.job.ImportAddress, x.job.ImportID, opts...); err != nil {
		return res(), err
	}
	// The state changed, so an earlier plan of this project is stale.
	if x.job.PlanFile != "" {
		if err := x.removePlan(); err != nil {
			return res(), err
		}
	}
	text := out.String()
	return &stepOut{text: text, section: text}, nil
}

// removePlan deletes the plan file and its show file, if present.
func (x *execution) removePlan() error {
	for _, p := range []string{x.job.PlanFile, showFile(x.job.PlanFile)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove old plan: %w", err)
		}
	}
	return nil
}

func planExists(path string) error {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("there is no plan to use: run plan first")
		}
		return fmt.Errorf("read plan file: %w", err)
	}
	return nil
}

// exitCode is the exit code of the command behind err, or -1.
func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		return exit.ExitCode()
	}
	return -1
}

// envMap turns an environment list into a map; later entries win.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		m[k] = v
	}
	return m
}
