package config

import (
	"regexp"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// Stage names of a workflow.
var stageKeys = []string{"plan", "apply", "import", "state_rm", "policy_check"}

// Built-in steps that run a terraform (or Atoll) command and take only extra_args.
var builtinSteps = []string{StepInit, StepPlan, StepApply, StepShow, StepPolicy, StepImport, StepStateRm, StepVersion}

// Every key a step mapping may have.
var stepKeys = append(append([]string{}, builtinSteps...), StepRun, StepEnv, StepMultiEnv)

// Output modes of run steps.
var runOutputs = []string{"show", "hide", "strip_refreshing"}

// Output modes of multienv steps.
var multienvOutputs = []string{"show", "hide"}

const (
	defaultShell  = "sh"
	defaultOutput = "show"
)

func defaultShellArgs() []string { return []string{"-c"} }

// minStepTimeout is the shortest timeout a step may set.
const minStepTimeout = time.Second

// workflows decodes a map of workflow name to workflow. Stages that are not
// written stay nil (Resolve fills them from the default workflow); a stage written
// without steps is an empty, non-nil list, which runs nothing, as in Atlantis.
func (d *decoder) workflows(v *yaml.Node, path string) map[string]Workflow {
	if isNull(v) {
		return nil
	}
	fields, order, ok := d.mapping(v, path, nil)
	if !ok {
		return nil
	}
	out := map[string]Workflow{}
	for _, name := range order {
		f := fields[name]
		p := child(path, name)
		if name == "" {
			d.fail(f.key, p, "a workflow needs a name")
			continue
		}
		out[name] = d.workflow(name, f.val, p)
	}
	return out
}

func (d *decoder) workflow(name string, v *yaml.Node, path string) Workflow {
	w := Workflow{Name: name}
	if isNull(v) {
		return w
	}
	fields, _, ok := d.mapping(v, path, stageKeys)
	if !ok {
		return w
	}
	stage := func(key string) []Step {
		f, set := fields[key]
		if !set {
			return nil
		}
		return d.stage(key, f.val, child(path, key))
	}
	w.Plan = stage("plan")
	w.Apply = stage("apply")
	w.Import = stage("import")
	w.StateRm = stage("state_rm")
	w.PolicyCheck = stage("policy_check")
	return w
}

// stage decodes {steps: [...]} of the stage named name; the result is never
// nil.
func (d *decoder) stage(name string, v *yaml.Node, path string) []Step {
	steps := []Step{}
	if isNull(v) {
		return steps
	}
	fields, _, ok := d.mapping(v, path, []string{"steps"})
	if !ok {
		return steps
	}
	f, set := fields["steps"]
	if !set || isNull(f.val) {
		return steps
	}
	p := child(path, "steps")
	seq := resolve(f.val)
	if seq.Kind != yaml.SequenceNode {
		d.fail(seq, p, "must be a list of steps")
		return steps
	}
	for i, s := range seq.Content {
		if st, ok := d.step(s, index(p, i)); ok && d.stepFits(name, st, s, index(p, i)) {
			steps = append(steps, st)
		}
	}
	return steps
}

// stepFits refuses a step that Atoll would not run as written in stage:
// the policy_check stage runs Atoll's built-in check (show, policy_check),
// a policy_check step belongs there, and version is not supported.
func (d *decoder) stepFits(stage string, st Step, n *yaml.Node, path string) bool {
	switch {
	case st.Kind == StepVersion:
		d.fail(resolve(n), path, "the version step is not supported yet; use `- run: terraform version` if you need the version in the output")
	case stage == "policy_check" && st.Kind == StepPolicy && len(st.ExtraArgs) > 0:
		d.fail(resolve(n), path, "policy_check takes no extra_args: Atoll checks policies in-process with OPA, not with conftest, against the policy sets in the server's repos.yaml (all their packages, as with --all-namespaces)")
	case stage == "policy_check" && st.Kind != StepShow && st.Kind != StepPolicy:
		d.fail(resolve(n), path, "a policy_check stage may have only the show and policy_check steps: Atoll does not run custom policy steps yet. "+
			"To run another policy tool, add `- show` and `- run: <tool> $SHOWFILE` after `- plan` in the plan stage, where a failing command fails the plan")
	case stage != "policy_check" && st.Kind == StepPolicy:
		d.fail(resolve(n), path, "the policy_check step belongs in the workflow's policy_check stage; Atoll checks policies after every plan when policy checks are on")
	default:
		return true
	}
	return false
}

// step decodes one step: a built-in name, or a mapping with exactly one key.
func (d *decoder) step(v *yaml.Node, path string) (Step, bool) {
	v = resolve(v)
	if v != nil && v.Kind == yaml.ScalarNode && v.Tag == "!!str" {
		if !contains(builtinSteps, v.Value) {
			if contains(stepKeys, v.Value) {
				d.fail(v, path, "step %q needs a value, for example `- %s: <command>`", v.Value, v.Value)
			} else {
				d.fail(v, path, "unknown step %q: use one of %s, or run, env, multienv%s", v.Value, quoteList(slices.DeleteFunc(slices.Clone(builtinSteps), func(s string) bool { return s == StepVersion })), didYouMean(v.Value, stepKeys))
			}
			return Step{}, false
		}
		return Step{Kind: v.Value}, true
	}
	if v == nil || v.Kind != yaml.MappingNode {
		d.fail(v, path, "a step must be a step name (init) or a mapping with one key (run: <command>)")
		return Step{}, false
	}
	if len(v.Content) == 0 {
		d.fail(v, path, "a step needs one key, for example run: <command>")
		return Step{}, false
	}
	fields, order, ok := d.mapping(v, path, stepKeys)
	if !ok || len(order) == 0 {
		return Step{}, false
	}
	if len(order) > 1 {
		d.fail(fields[order[1]].key, path, "a step has exactly one key, found %s; start each step with its own -", quoteList(order))
		return Step{}, false
	}
	kind := order[0]
	f := fields[kind]
	p := child(path, kind)
	switch kind {
	case StepRun:
		return d.runStep(f.val, p)
	case StepEnv:
		return d.envStep(f.val, p)
	case StepMultiEnv:
		return d.multienvStep(f.val, p)
	}
	st := Step{Kind: kind}
	if isNull(f.val) {
		return st, true
	}
	args, _, ok := d.mapping(f.val, p, []string{"extra_args", "timeout"})
	if !ok {
		return Step{}, false
	}
	if !d.stepTimeout(args, p, &st) {
		return Step{}, false
	}
	if a, set := args["extra_args"]; set {
		list, good := d.strList(a.val, child(p, "extra_args"))
		if !good && list == nil && !isNull(a.val) {
			return Step{}, false
		}
		if len(list) > 0 {
			st.ExtraArgs = list
		}
	}
	return st, true
}

// shellFields reads shell and shell_args (or Atlantis's shellArgs) into st.
func (d *decoder) shellFields(fields map[string]field, path string, st *Step) bool {
	ok := true
	st.Shell, st.ShellArgs = defaultShell, defaultShellArgs()
	shellSet := false
	if f, set := fields["shell"]; set {
		if s, good := d.str(f.val, child(path, "shell")); good && s != "" {
			st.Shell, shellSet = s, true
		} else if !isNull(f.val) {
			ok = false
		}
	}
	for _, key := range []string{"shell_args", "shellArgs"} {
		f, set := fields[key]
		if !set {
			continue
		}
		if _, both := fields["shell_args"]; both && key == "shellArgs" {
			d.fail(f.key, child(path, key), "set shell_args or shellArgs, not both")
			ok = false
			continue
		}
		args, good := d.shellArgs(f.val, child(path, key))
		if !good {
			ok = ok && isNull(f.val)
			continue
		}
		if !shellSet {
			d.fail(f.key, child(path, key), "needs shell to be set as well")
			ok = false
			continue
		}
		st.ShellArgs = args
	}
	return ok
}

var shellKeys = []string{"shell", "shell_args", "shellArgs"}

func (d *decoder) runStep(v *yaml.Node, path string) (Step, bool) {
	return d.commandStep(v, path, StepRun, func(o *yaml.Node, path string, st *Step) bool {
		mode, filters, ok := d.runOutput(o, path)
		st.Output, st.FilterRegex = mode, filters
		return ok
	})
}

// commandStep decodes a step that runs a command (run, multienv): a command
// string, or a mapping of command, output and the shell keys. output decodes
// the mapping's output value into st when the key is set.
func (d *decoder) commandStep(v *yaml.Node, path, kind string, output func(o *yaml.Node, path string, st *Step) bool) (Step, bool) {
	st := Step{Kind: kind, Output: defaultOutput, Shell: defaultShell, ShellArgs: defaultShellArgs()}
	rv := resolve(v)
	if rv != nil && rv.Kind == yaml.ScalarNode && !isNull(rv) {
		cmd, ok := d.str(rv, path)
		if !ok {
			return Step{}, false
		}
		st.Run = cmd
		return st, d.nonEmpty(rv, path, cmd)
	}
	if isNull(rv) {
		d.fail(rv, path, "needs a command")
		return Step{}, false
	}
	fields, _, ok := d.mapping(rv, path, append([]string{"command", "output", "timeout"}, shellKeys...))
	if !ok {
		return Step{}, false
	}
	good := d.shellFields(fields, path, &st)
	good = d.stepTimeout(fields, path, &st) && good
	f, set := fields["command"]
	if !set {
		d.fail(rv, child(path, "command"), "required key is missing")
		return Step{}, false
	}
	cmd, cok := d.str(f.val, child(path, "command"))
	if !cok || !d.nonEmpty(resolve(f.val), child(path, "command"), cmd) {
		return Step{}, false
	}
	st.Run = cmd
	if o, set := fields["output"]; set {
		good = output(o.val, child(path, "output"), &st) && good
	}
	return st, good
}

// runOutput decodes output: a mode, or a list of modes and {filter_regex: re}.
func (d *decoder) runOutput(v *yaml.Node, path string) (string, []string, bool) {
	v = resolve(v)
	if isNull(v) {
		return defaultOutput, nil, true
	}
	if v.Kind != yaml.SequenceNode {
		m, ok := d.enum(v, path, runOutputs)
		if !ok {
			return defaultOutput, nil, false
		}
		return m, nil, true
	}
	mode, ok := defaultOutput, true
	var filters []string
	for i, e := range v.Content {
		p := index(path, i)
		e = resolve(e)
		if e != nil && e.Kind == yaml.MappingNode {
			fields, _, good := d.mapping(e, p, []string{"filter_regex"})
			if !good {
				ok = false
				continue
			}
			f, set := fields["filter_regex"]
			if !set {
				d.fail(e, child(p, "filter_regex"), "required key is missing")
				ok = false
				continue
			}
			re, good := d.str(f.val, child(p, "filter_regex"))
			if !good {
				ok = false
				continue
			}
			if _, err := regexp.Compile(re); err != nil {
				d.fail(resolve(f.val), child(p, "filter_regex"), "invalid regular expression %q: %s", re, regexpReason(err))
				ok = false
				continue
			}
			filters = append(filters, re)
			continue
		}
		m, good := d.enum(e, p, runOutputs)
		if !good {
			ok = false
			continue
		}
		if m != defaultOutput {
			mode = m
		}
	}
	return mode, filters, ok
}

func (d *decoder) envStep(v *yaml.Node, path string) (Step, bool) {
	st := Step{Kind: StepEnv}
	fields, _, ok := d.mapping(v, path, append([]string{"name", "value", "command", "timeout"}, shellKeys...))
	if !ok {
		return Step{}, false
	}
	good := true
	nf, set := fields["name"]
	if !set {
		d.fail(resolve(v), child(path, "name"), "required key is missing")
		good = false
	} else if name, nok := d.str(nf.val, child(path, "name")); nok && d.nonEmpty(resolve(nf.val), child(path, "name"), name) {
		st.EnvName = name
	} else {
		good = false
	}
	vf, hasValue := fields["value"]
	cf, hasCommand := fields["command"]
	switch {
	case hasValue && hasCommand:
		d.fail(cf.key, child(path, "command"), "set either value or command, not both")
		return Step{}, false
	case hasValue:
		if isNull(vf.val) {
			st.EnvValue = ""
		} else if s, ok := d.str(vf.val, child(path, "value")); ok {
			st.EnvValue = s
		} else {
			good = false
		}
		for _, k := range append([]string{"timeout"}, shellKeys...) {
			if f, set := fields[k]; set {
				d.fail(f.key, child(path, k), "only applies with command, not value")
				good = false
			}
		}
	case hasCommand:
		cmd, ok := d.str(cf.val, child(path, "command"))
		if !ok || !d.nonEmpty(resolve(cf.val), child(path, "command"), cmd) {
			good = false
		}
		st.Run = cmd
		good = d.shellFields(fields, path, &st) && good
		good = d.stepTimeout(fields, path, &st) && good
	default:
		d.fail(resolve(v), path, "needs value or command")
		good = false
	}
	return st, good
}

func (d *decoder) multienvStep(v *yaml.Node, path string) (Step, bool) {
	return d.commandStep(v, path, StepMultiEnv, func(o *yaml.Node, path string, st *Step) bool {
		if isNull(o) {
			return true
		}
		m, ok := d.enum(o, path, multienvOutputs)
		if ok && m == "show" {
			d.fail(resolve(o), path, "Atoll never shows a multienv step's output: it is the variables' values, often secrets. Remove output, or set it to hide")
			return false
		}
		if ok {
			st.Output = m
		}
		return ok
	})
}

// stepTimeout reads the timeout key among a step's fields into st: a Go
// duration such as 30m or 1h30m, at least minStepTimeout. Atlantis has no such
// key.
func (d *decoder) stepTimeout(fields map[string]field, path string, st *Step) bool {
	f, set := fields["timeout"]
	if !set {
		return true
	}
	p := child(path, "timeout")
	v := resolve(f.val)
	if isNull(v) {
		d.fail(v, p, "must be a duration such as 30m or 1h30m")
		return false
	}
	s, ok := d.str(v, p)
	if !ok {
		return false
	}
	timeout, err := time.ParseDuration(s)
	switch {
	case err != nil:
		d.fail(v, p, "%q is not a duration: use a number and a unit (s, m, h), such as 90s, 30m or 1h30m", s)
	case timeout < minStepTimeout:
		d.fail(v, p, "%q is too short: a step timeout must be at least %s", s, minStepTimeout)
	default:
		st.Timeout = timeout
		return true
	}
	return false
}

// nonEmpty reports an empty string.
func (d *decoder) nonEmpty(v *yaml.Node, path, s string) bool {
	if s == "" {
		d.fail(v, path, "must not be empty")
		return false
	}
	return true
}
