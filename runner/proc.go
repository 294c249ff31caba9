package runner

import (
	"context"
	"os/exec"
	"runtime"
	"time"
)

// Defaults of Config.StepTimeout and Config.KillGrace.
const (
	DefaultStepTimeout = time.Hour
	DefaultKillGrace   = 10 * time.Second
)

// pipeWaitDelay is the least time a command's output pipes may stay open after
// it exits, or after its context ends, held by a process that left its group
// (or, for a run step that exits normally, by a background process it
// started); then the runner closes them and stops waiting.
const pipeWaitDelay = 10 * time.Second

// groupPoll is how often a cancelled command's process group is checked for
// members that outlived it.
const groupPoll = 50 * time.Millisecond

// runCommand runs cmd, made with exec.CommandContext, to the end. Every child
// process of the runner but terraform (which terraform-exec starts, see
// execution.runStepGuarded) goes through it:
//
//   - cmd runs in a process group of its own and, on Linux, is SIGKILLed by the
//     kernel when the OS thread that started it ends (Pdeathsig), which the
//     thread does when the server dies. The calling goroutine is locked to its
//     thread until cmd has been waited for, so that this thread cannot end
//     earlier: Go ends a thread when a goroutine exits while locked to it.
//   - When cmd's context ends, the whole group gets SIGINT; once the group is
//     empty, or Config.KillGrace after the SIGINT, what is left of it gets
//     SIGKILL. runCommand returns only after that.
func (r *Runner) runCommand(cmd *exec.Cmd) error {
	setProcessGroup(cmd)
	interrupted := make(chan struct{})
	cmd.Cancel = func() error {
		// exec.Cmd calls Cancel at most once, before Wait returns.
		close(interrupted)
		return interruptGroup(cmd.Process)
	}
	// Past the grace period the group is dead; the extra time is for a
	// process that left the group but holds the output pipes.
	cmd.WaitDelay = max(pipeWaitDelay, r.killGrace+time.Second)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	reaped := make(chan struct{})
	go func() { // owned by runCommand, which waits for it below
		defer close(reaped)
		select {
		case <-interrupted:
		case <-exited:
			select {
			case <-interrupted:
			default:
				return
			}
		}
		r.reapGroup(pgid, exited)
	}()
	err := cmd.Wait()
	close(exited)
	<-reaped
	return err
}

// reapGroup waits until the interrupted process group pgid is empty, its leader
// having been waited for (exited is closed), or until Config.KillGrace has
// passed, and then SIGKILLs what is left of it.
//
// A process group ID is not reused while the group has members, and the poll
// stops as soon as it is empty, so the only risk is a new group with the same
// ID within one poll interval after the last member died: the kernel would have
// to wrap its process IDs around in 50 ms.
func (r *Runner) reapGroup(pgid int, exited <-chan struct{}) {
	deadline := time.NewTimer(r.killGrace)
	defer deadline.Stop()
	tick := time.NewTicker(groupPoll)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			_ = killGroup(pgid)
			return
		case <-tick.C:
			select {
			case <-exited:
				if !groupExists(pgid) {
					return
				}
			default:
			}
		}
	}
}

// guardTerraform makes a terraform step's processes end as runCommand's do.
// terraform-exec starts terraform itself: in a process group of its own with
// Pdeathsig SIGKILL on Linux (its cmd_linux.go), from the calling goroutine,
// which runStepGuarded locks to its thread; when its context ends it sends
// terraform alone SIGINT, so terraform can stop its providers and release the
// state lock, and SIGKILL after the delay set with SetWaitDelay
// (Config.KillGrace). What terraform-exec does not do is kill the rest of the
// group: provisioner commands and providers that terraform left behind, or
// that were still running when it was killed.
//
// The step must run terraform with the returned context. When ctx ends,
// guardTerraform first finds the process groups terraform leads
// (childGroupLeaders, Linux only), and only then ends the returned context, so
// that terraform-exec's SIGINT cannot make terraform exit before it is found.
// It SIGKILLs those groups when the step has returned, or Config.KillGrace
// later if it has not. Call stop when the step has returned; it waits for the
// guard.
func (x *execution) guardTerraform(ctx context.Context) (_ context.Context, stop func()) {
	held := &heldContext{Context: ctx, done: make(chan struct{})}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() { // owned by the caller of stop
		defer close(finished)
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		leaders := childGroupLeaders(x.projectDir)
		close(held.done)
		if len(leaders) == 0 {
			return
		}
		grace := time.NewTimer(x.r.killGrace)
		defer grace.Stop()
		select {
		case <-done:
		case <-grace.C:
		}
		for _, pgid := range leaders {
			_ = killGroup(pgid)
		}
	}()
	return held, func() {
		close(done)
		<-finished
	}
}

// heldContext is its parent context with Done closed not when the parent's
// is, but when its owner closes done, after the parent's. Its Err is nil until
// then, and the parent's after.
type heldContext struct {
	context.Context
	done chan struct{}
}

func (c *heldContext) Done() <-chan struct{} { return c.done }

func (c *heldContext) Err() error {
	select {
	case <-c.done:
		return c.Context.Err()
	default:
		return nil
	}
}
