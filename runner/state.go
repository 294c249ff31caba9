package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/atollhq/atoll/config"
)

// stateRmFlags are the flags a state_rm step takes (extra_args or the
// comment's "-- ARGS").
var stateRmFlags = []string{"lock", "lock-timeout"}

func (a tfArgs) stateRmOptions() ([]tfexec.StateRmCmdOption, error) {
	return commandOptions[tfexec.StateRmCmdOption](a, "state rm", stateRmFlags)
}

// stateRmStep runs `terraform state rm` for each of the job's
// StateRmAddresses, in order; the first failure stops it. Like import, it
// changes the state, so an earlier plan of the project is removed.
func (x *execution) stateRmStep(ctx context.Context, step config.Step) (*stepOut, error) {
	out := newStepOutput(x.job.Log)
	res := func() *stepOut { return &stepOut{text: out.String()} }
	if len(x.job.StateRmAddresses) == 0 {
		return res(), errors.New("state rm needs at least one resource address")
	}
	for _, addr := range x.job.StateRmAddresses {
		if addr == "" || strings.HasPrefix(addr, "-") {
			return res(), fmt.Errorf("state rm address %q is not a resource address", addr)
		}
	}
	args := slices.Concat(step.ExtraArgs, x.job.ExtraArgs)
	opts, err := stepArgs(args, tfArgs.stateRmOptions)
	opts = withLockTimeout(args, opts, func(d string) tfexec.StateRmCmdOption { return tfexec.LockTimeout(d) })
	if err != nil {
		return res(), err
	}
	tf, err := x.workspaceTerraform(ctx, out)
	if err != nil {
		return res(), err
	}
	for _, addr := range x.job.StateRmAddresses {
		if err := tf.StateRm(ctx, addr, opts...); err != nil {
			return res(), err
		}
	}
	if x.job.PlanFile != "" {
		if err := x.removePlan(); err != nil {
			return res(), err
		}
	}
	text := out.String()
	return &stepOut{text: text, section: text}, nil
}
