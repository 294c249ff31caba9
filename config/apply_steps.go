package config

// ApplySteps returns the steps that apply a saved plan: the workflow's apply
// stage, preceded, when that stage has no init of its own, by the env, multienv
// and init steps its plan stage runs before planning. Every checkout cleans the
// worktree, and the apply may run on another replica than the plan, so the
// project's .terraform is gone: without a new init terraform can neither select
// a non-default workspace nor find its providers. init, env and multienv steps
// add nothing to the comment.
func (w Workflow) ApplySteps() []Step {
	if len(w.Apply) == 0 {
		return w.Apply
	}
	for _, st := range w.Apply {
		if st.Kind == StepInit {
			return w.Apply
		}
	}
	var pre []Step
	inits := false
	for _, st := range w.Plan {
		if st.Kind == StepPlan {
			break
		}
		switch st.Kind {
		case StepInit:
			inits = true
			pre = append(pre, st)
		case StepEnv, StepMultiEnv:
			pre = append(pre, st)
		}
	}
	if !inits {
		return w.Apply
	}
	return append(pre, w.Apply...)
}
