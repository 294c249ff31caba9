package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atollhq/atoll/config"
	"github.com/atollhq/atoll/internal/testenv"
)

// runShim runs ShimMain on a thread other than the main one, as the Go
// runtime may: a thread created after the fork has no parent-death signal of
// its own, and the terraform the shim execs must die with the runner all the
// same (TestChildrenDieWithServer).
func runShim() int {
	code := make(chan int)
	var try func()
	try = func() {
		runtime.LockOSThread()
		if syscall.Gettid() == os.Getpid() {
			// The main thread: keep it busy and try again on another.
			go try()
			select {}
		}
		code <- ShimMain(os.Args, os.Environ(), os.Stderr)
	}
	go try()
	return <-code
}

// procStat returns the state, parent and process group of pid from
// /proc/PID/stat; ok is false when pid does not exist.
func procStat(pid int) (state string, ppid, pgrp int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 3 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	pgrp, _ = strconv.Atoi(f[2])
	return f[0], ppid, pgrp, true
}

// gone reports whether pid has exited: it does not exist, or it is a zombie
// that its new parent has not reaped yet.
func gone(pid int) bool {
	state, _, _, ok := procStat(pid)
	return !ok || state == "Z"
}

// waitGone waits up to d for every pid to exit and returns those still running.
func waitGone(pids []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var alive []int
		for _, p := range pids {
			if !gone(p) {
				alive = append(alive, p)
			}
		}
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readPids reads the process IDs a test command wrote to path, one a line.
func readPids(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the command did not record its processes: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad pid %q in %s", f, path)
		}
		pids = append(pids, p)
	}
	return pids
}

// killLeftovers SIGKILLs, when the test ends, the processes whose IDs the
// command under test writes to path, so a failing test leaves no sleep behind.
func killLeftovers(t *testing.T, path string) {
	t.Cleanup(func() {
		b, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil && !gone(p) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
}

// Every step gets a timeout; when it passes, the step's process group gets
// SIGINT, and SIGKILL KillGrace later if it is still there. Run returns once
// the processes are gone, keeping what the step printed and saying why it
// stopped. A context that ends for another reason (the server shutting down)
// ends the step the same way but is not a timeout.
func TestRunStepTimeout(t *testing.T) {
	t.Parallel()
	const sec = time.Second
	tests := []struct {
		name     string
		cfg      Config // StepTimeout and KillGrace
		step     config.Step
		shutdown time.Duration // when set, Run's context ends this much after it starts
		// wantErr is StepError.Error(); "" for a step that succeeds.
		wantErr    string
		wantOutput []string // in StepError.Output (or Result.Output on success)
		// The step must end within [min, max]: max well below the 60s sleeps.
		min, max time.Duration
	}{
		{
			name:       "run step with its own timeout",
			step:       config.Step{Kind: config.StepRun, Run: "echo started; echo $$ > pids; exec sleep 60", Timeout: sec},
			wantErr:    "step run timed out after 1s",
			wantOutput: []string{"started\n", "step run timed out after 1s\n"},
			min:        sec, max: 3 * sec,
		},
		{
			name:       "run step bounded by Config.StepTimeout",
			cfg:        Config{StepTimeout: sec},
			step:       config.Step{Kind: config.StepRun, Run: "echo started; echo $$ > pids; exec sleep 60"},
			wantErr:    "step run timed out after 1s",
			wantOutput: []string{"started\n", "step run timed out after 1s\n"},
			min:        sec, max: 3 * sec,
		},
		{
			name: "SIGINT comes first and the step may clean up",
			step: config.Step{Kind: config.StepRun, Timeout: sec,
				Run: `trap 'echo got SIGINT, cleaning up; exit 3' INT; echo $$ > pids; sh -c 'echo $$ >> pids; exec sleep 60'`},
			wantErr:    "step run timed out after 1s",
			wantOutput: []string{"got SIGINT, cleaning up\n", "step run timed out after 1s\n"},
			min:        sec, max: 3 * sec,
		},
		{
			// A non-interactive shell starts background commands with SIGINT
			// ignored: this grandchild needs the group's SIGKILL.
			name: "a background grandchild is killed after KillGrace",
			cfg:  Config{KillGrace: 2 * sec},
			step: config.Step{Kind: config.StepRun, Timeout: sec,
				Run: `sleep 60 & echo $! > pids; sh -c 'echo $$ >> pids; exec sleep 60'`},
			wantErr: "step run timed out after 1s",
			min:     3 * sec, max: 6 * sec,
		},
		{
			name: "a step that ignores SIGINT is killed after KillGrace",
			cfg:  Config{KillGrace: 2 * sec},
			step: config.Step{Kind: config.StepRun, Timeout: sec,
				Run: `trap '' INT; echo $$ > pids; sh -c 'echo $$ >> pids; exec sleep 60'`},
			wantErr: "step run timed out after 1s",
			min:     3 * sec, max: 6 * sec,
		},
		{
			name:       "env step",
			step:       config.Step{Kind: config.StepEnv, EnvName: "SLOW", Run: "echo $$ > pids; exec sleep 60", Timeout: sec},
			wantErr:    "step env timed out after 1s",
			wantOutput: []string{"step env timed out after 1s\n"},
			min:        sec, max: 3 * sec,
		},
		{
			name:       "multienv step",
			step:       config.Step{Kind: config.StepMultiEnv, Run: "echo $$ > pids; exec sleep 60", Timeout: 1500 * time.Millisecond},
			wantErr:    "step multienv timed out after 1.5s",
			wantOutput: []string{"step multienv timed out after 1.5s\n"},
			min:        1500 * time.Millisecond, max: 4 * sec,
		},
		{
			name:       "a step's own timeout may be longer than Config.StepTimeout",
			cfg:        Config{StepTimeout: sec},
			step:       config.Step{Kind: config.StepRun, Run: "echo $$ > pids; sleep 2; echo finished", Timeout: time.Minute},
			wantOutput: []string{"finished\n"},
			min:        2 * sec, max: 5 * sec,
		},
		{
			name:     "server shutdown is not a timeout",
			cfg:      Config{KillGrace: sec},
			step:     config.Step{Kind: config.StepRun, Run: `sleep 60 & echo $! > pids; sh -c 'echo $$ >> pids; exec sleep 60'`},
			shutdown: 500 * time.Millisecond,
			wantErr:  "run step failed: signal: interrupt: context deadline exceeded",
			min:      1500 * time.Millisecond, max: 4 * sec,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRunnerWith(t, tt.cfg)
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "pids")
			killLeftovers(t, pidFile)
			ctx := context.Background()
			if tt.shutdown > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.shutdown)
				defer cancel()
			}

			start := time.Now()
			res, err := r.Run(ctx, Job{Dir: dir, ProjectDir: ".", Steps: []config.Step{tt.step}})
			took := time.Since(start)

			// The deadline starts a moment before start is read: allow 100ms.
			if took < tt.min-100*time.Millisecond || took > tt.max {
				t.Errorf("the step took %v, want %v to %v", took, tt.min, tt.max)
			}
			if alive := waitGone(readPids(t, pidFile), time.Second); len(alive) > 0 {
				t.Errorf("processes %v of the step are still running after Run returned", alive)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				for _, want := range tt.wantOutput {
					if !strings.Contains(res.Output, want) {
						t.Errorf("output lacks %q:\n%s", want, res.Output)
					}
				}
				return
			}
			var se *StepError
			if !errors.As(err, &se) {
				t.Fatalf("Run error = %v (%T), want a *StepError", err, err)
			}
			if got := se.Error(); got != tt.wantErr {
				t.Errorf("error = %q, want %q", got, tt.wantErr)
			}
			if got, want := errors.Is(err, ErrStepTimeout), tt.shutdown == 0; got != want {
				t.Errorf("errors.Is(err, ErrStepTimeout) = %v, want %v", got, want)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(err, context.DeadlineExceeded) = false for %v", err)
			}
			if se.ExitCode != -1 || se.Step != tt.step.Kind {
				t.Errorf("StepError step %q exit code %d, want %q and -1", se.Step, se.ExitCode, tt.step.Kind)
			}
			for _, want := range tt.wantOutput {
				if !strings.Contains(se.Output, want) {
					t.Errorf("StepError.Output lacks %q:\n%s", want, se.Output)
				}
			}
			if len(res.Steps) != 1 || res.Steps[0].Output != se.Output || res.Steps[0].ExitCode != -1 {
				t.Errorf("Result.Steps = %+v, want the failed step with the error's output and exit code -1", res.Steps)
			}
		})
	}
}

// slowApplyTF is a configuration whose apply runs a local-exec provisioner
// that records terraform's process ID ($PPID of the provisioner's shell) and
// leaves a background sleep behind in terraform's process group when
// terraform stops the provisioner (it kills the shell only).
const slowApplyTF = `
variable "x" {
  type    = string
  default = ""
}

resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "echo $PPID > tf.pid; sleep 60 & echo $! > sleep.pid; wait"
  }
}
`

// waitFile waits up to d for path to hold a whole line.
func waitFile(path string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// A terraform step that times out, or whose server shuts down, gets terraform
// SIGINT first: terraform says so, stops its provisioner and exits by itself,
// well before KillGrace would have it killed. What it leaves in its process
// group (the provisioner's background sleep) is killed when it has exited.
// Through the TF_VAR_ shim the same holds: the shim has become terraform.
func TestTerraformStepInterruptedFirst(t *testing.T) {
	t.Parallel()
	const (
		timeout = 5 * time.Second
		grace   = 30 * time.Second
	)
	tests := []struct {
		name     string
		shim     bool
		shutdown bool // cancel Run's context once the provisioner runs, rather than time out
	}{
		{name: "timeout"},
		{name: "timeout through the shim", shim: true},
		{name: "server shutdown through the shim", shim: true, shutdown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{KillGrace: grace, Env: testenv.TerraformEnv(t)}
			if tt.shim {
				exe, err := os.Executable() // this test binary, see TestMain
				if err != nil {
					t.Fatal(err)
				}
				cfg.Shim = exe
				cfg.Env = append(cfg.Env, "TF_VAR_x=through-the-shim")
			}
			r := newRunnerWith(t, cfg)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(slowApplyTF), 0o644); err != nil {
				t.Fatal(err)
			}
			killLeftovers(t, filepath.Join(dir, "sleep.pid"))
			planFile := filepath.Join(t.TempDir(), "slow.tfplan")
			if _, err := r.Run(context.Background(), Job{Dir: dir, ProjectDir: ".", PlanFile: planFile, Steps: planSteps()}); err != nil {
				t.Fatalf("plan: %v", err)
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			apply := config.Step{Kind: config.StepApply, Timeout: timeout}
			var wg sync.WaitGroup
			defer wg.Wait()
			if tt.shutdown {
				apply.Timeout = 0
				wg.Go(func() {
					// The server shuts down while the provisioner runs.
					if waitFile(filepath.Join(dir, "sleep.pid"), time.Minute) {
						cancel()
					}
				})
			}
			start := time.Now()
			_, err := r.Run(ctx, Job{Dir: dir, ProjectDir: ".", PlanFile: planFile, Steps: []config.Step{apply}})
			took := time.Since(start)
			cancel()

			var se *StepError
			if !errors.As(err, &se) {
				t.Fatalf("apply error = %v, want a *StepError", err)
			}
			if errors.Is(err, ErrStepTimeout) == tt.shutdown {
				t.Errorf("errors.Is(err, ErrStepTimeout) = %v for a shutdown=%v: %v", !tt.shutdown, tt.shutdown, err)
			}
			wantOutput := []string{"Interrupt received", "Gracefully shutting down"}
			if !tt.shutdown {
				wantOutput = append(wantOutput, "step apply timed out after 5s\n")
			}
			for _, want := range wantOutput {
				if !strings.Contains(se.Output, want) {
					t.Errorf("apply output lacks %q:\n%s", want, se.Output)
				}
			}
			if took > grace/2 {
				t.Errorf("apply took %v: terraform did not stop on SIGINT but waited for KillGrace (%v)", took, grace)
			}
			tfPid := readPids(t, filepath.Join(dir, "tf.pid"))
			sleepPid := readPids(t, filepath.Join(dir, "sleep.pid"))
			if alive := waitGone(tfPid, time.Second); len(alive) > 0 {
				t.Errorf("terraform (pid %v) is still running", alive)
			}
			if alive := waitGone(sleepPid, time.Second); len(alive) > 0 {
				t.Errorf("the provisioner's background sleep (pid %v) is still running: terraform's process group was not killed", alive)
			}
		})
	}
}

// findChild waits up to d for a child of parent whose executable is exe and
// returns its pid.
func findChild(t *testing.T, parent int, exe string, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if _, ppid, _, ok := procStat(pid); !ok || ppid != parent {
				continue
			}
			if got, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && got == exe {
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("process %d started no %s within %v", parent, exe, d)
	return 0
}

// realPath resolves a binary's path as /proc/PID/exe shows it.
func realPath(t *testing.T, p string) string {
	t.Helper()
	if !filepath.IsAbs(p) {
		var err error
		if p, err = exec.LookPath(p); err != nil {
			t.Fatal(err)
		}
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return real
}

// A child of the runner dies with the server, even when the server is
// SIGKILLed and cancels nothing: a stand-in server (this test binary, see
// runHelper) starts a run step, git, or terraform through the TF_VAR_ shim
// (which execs terraform: the parent-death signal must survive the exec), and
// is killed.
func TestChildrenDieWithServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode string
		// setup prepares the project directory and returns the helper's
		// extra environment and a function that waits for the child to
		// watch, a direct child of the helper, and returns its pid.
		setup func(t *testing.T, dir string) (env []string, child func(helper int) int)
	}{
		{mode: "run", setup: func(t *testing.T, dir string) ([]string, func(int) int) {
			return nil, func(helper int) int { return findChild(t, helper, realPath(t, "sleep"), time.Minute) }
		}},
		{mode: "git", setup: func(t *testing.T, dir string) ([]string, func(int) int) {
			// A git server that never answers, so git fetch waits.
			requested := make(chan struct{}, 1)
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				select {
				case requested <- struct{}{}:
				default:
				}
				select {
				case <-release:
				case <-req.Context().Done():
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) })
			return []string{helperURLEnv + "=" + srv.URL + "/acme/infra.git"}, func(helper int) int {
				select {
				case <-requested:
				case <-time.After(time.Minute):
					t.Fatal("git never asked the server for anything")
				}
				return findChild(t, helper, realPath(t, testenv.Git(t)), time.Minute)
			}
		}},
		{mode: "terraform", setup: func(t *testing.T, dir string) ([]string, func(int) int) {
			tf := `variable "x" {
  type    = string
  default = ""
}

resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "echo $PPID > tf.pid; exec sleep 60"
  }
}
`
			if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(tf), 0o644); err != nil {
				t.Fatal(err)
			}
			// A TF_VAR_ variable makes the runner use the shim.
			env := []string{helperTerraformEnv + "=" + testenv.Terraform(t), "TF_VAR_x=shim"}
			return env, func(helper int) int {
				// The provisioner runs: terraform is applying.
				pidFile := filepath.Join(dir, "tf.pid")
				if !waitFile(pidFile, time.Minute) {
					t.Fatal("terraform apply never ran the provisioner")
				}
				pid := readPids(t, pidFile)[0]
				if _, ppid, _, _ := procStat(pid); ppid != helper {
					t.Errorf("terraform (pid %d) is a child of %d, want the helper %d", pid, ppid, helper)
				}
				if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != realPath(t, testenv.Terraform(t)) {
					t.Errorf("the shim's process runs %q, want terraform: it should have exec'd it", exe)
				}
				return pid
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env, findChild := tt.setup(t, dir)
			helper := exec.Command(os.Args[0], "-test.run=^$")
			helper.Env = append(append(testenv.TerraformEnv(t),
				helperEnv+"="+tt.mode, helperDirEnv+"="+dir, helperDataEnv+"="+t.TempDir()), env...)
			var stderr bytes.Buffer
			helper.Stderr = &stderr
			if err := helper.Start(); err != nil {
				t.Fatalf("start helper: %v", err)
			}
			exited := make(chan struct{})
			go func() { _ = helper.Wait(); close(exited) }()
			t.Cleanup(func() {
				_ = helper.Process.Kill()
				<-exited
			})

			child := findChild(helper.Process.Pid)
			if _, _, pgrp, _ := procStat(child); pgrp != child {
				t.Errorf("child %d is in process group %d, want one of its own", child, pgrp)
			}
			// Its children (the provisioner's sleep, git's remote helper) are
			// not tied to the server: kill them when the test ends.
			t.Cleanup(func() { _ = syscall.Kill(-child, syscall.SIGKILL) })

			if err := helper.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill helper: %v", err)
			}
			<-exited
			if alive := waitGone([]int{child}, 5*time.Second); len(alive) > 0 {
				t.Errorf("the %s child (pid %d) outlived the server that started it; helper stderr:\n%s", tt.mode, child, stderr.String())
			}
		})
	}
}
