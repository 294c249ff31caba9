package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"

	"github.com/atollhq/atoll/config"
)

// Output modes of run steps.
const (
	OutputShow            = "show"
	OutputHide            = "hide"
	OutputStripRefreshing = "strip_refreshing"
)

// runShell runs step.Run with the step's shell in the project directory, with
// stdout and stderr both going to w.
func (x *execution) runShell(ctx context.Context, step config.Step, w io.Writer) error {
	if strings.TrimSpace(step.Run) == "" {
		return errors.New("the step has no command to run")
	}
	shell := step.Shell
	args := step.ShellArgs
	if shell == "" {
		shell = "sh"
	}
	if args == nil {
		args = []string{"-c"}
	}
	path, err := lookPath(shell, x.r.env)
	if err != nil {
		return fmt.Errorf("find shell: %w", err)
	}
	cmd := exec.CommandContext(ctx, path, append(append([]string{}, args...), step.Run)...)
	cmd.Dir = x.projectDir
	cmd.Env = x.baseEnv()
	cmd.Stdout = w
	cmd.Stderr = w
	if err := x.r.runCommand(cmd); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", err, ctx.Err())
		}
		return err
	}
	return nil
}

func (x *execution) runShellStep(ctx context.Context, step config.Step) (*stepOut, error) {
	mode := step.Output
	switch mode {
	case "", OutputShow, OutputHide, OutputStripRefreshing:
	default:
		return nil, fmt.Errorf("run step output %q is not show, hide or strip_refreshing", mode)
	}
	filters := make([]*regexp.Regexp, 0, len(step.FilterRegex))
	for _, f := range step.FilterRegex {
		re, err := regexp.Compile(f) // checked when the config was read
		if err != nil {
			return nil, fmt.Errorf("run step filter_regex %q: %w", f, err)
		}
		filters = append(filters, re)
	}
	// With filter_regex, the live log gets the output once the step ends,
	// filtered like the comment: a match may span what streams in pieces.
	live := x.job.Log
	if len(filters) > 0 {
		live = nil
	}
	out := newStepOutput(live)
	err := x.runShell(ctx, step, out)
	text := filterOutput(out.String(), filters)
	if len(filters) > 0 && x.job.Log != nil {
		_, _ = io.WriteString(x.job.Log, text) // a failing live log must not fail the step
	}
	res := &stepOut{text: text}
	switch mode {
	case "", OutputShow:
		res.section = text
	case OutputStripRefreshing:
		res.section = stripRefreshing(text)
	}
	if strings.TrimSpace(res.section) == "" {
		res.section = ""
	}
	return res, err
}

// filterOutput replaces every match of filters in s with "<redacted>", as
// Atlantis's output: [filter_regex: ...] does.
func filterOutput(s string, filters []*regexp.Regexp) string {
	for _, re := range filters {
		s = re.ReplaceAllString(s, "<redacted>")
	}
	return s
}

// envStep sets step.EnvName to step.EnvValue, or to the trimmed output of
// step.Run. The output is not logged: it may be a secret.
func (x *execution) envStep(ctx context.Context, step config.Step) (*stepOut, error) {
	if !envNameRe.MatchString(step.EnvName) {
		return nil, fmt.Errorf("env step name %q is not a valid variable name", step.EnvName)
	}
	if step.Run == "" {
		x.stepEnv[step.EnvName] = step.EnvValue
		return &stepOut{}, nil
	}
	buf := &tailBuffer{max: MaxStepOutput}
	if err := x.runShell(ctx, step, buf); err != nil {
		return &stepOut{text: buf.String()}, err
	}
	x.stepEnv[step.EnvName] = strings.TrimSpace(buf.String())
	return &stepOut{}, nil
}

// multiEnvStep runs step.Run and sets every NAME=value its output lists. The
// output is not logged: it may hold secrets.
func (x *execution) multiEnvStep(ctx context.Context, step config.Step) (*stepOut, error) {
	buf := &tailBuffer{max: MaxStepOutput}
	if err := x.runShell(ctx, step, buf); err != nil {
		return &stepOut{text: buf.String()}, err
	}
	vars, err := parseMultiEnv(buf.String())
	if err != nil {
		return &stepOut{}, err
	}
	for _, kv := range vars {
		x.stepEnv[kv[0]] = kv[1]
	}
	return &stepOut{}, nil
}

// parseMultiEnv reads a multienv step's output: NAME=value pairs, one per line,
// or comma-separated on one line as Atlantis has it. On one line, a part that
// does not start with NAME= continues the previous value (a value with a comma).
func parseMultiEnv(s string) ([][2]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var parts []string
	lines := strings.Split(s, "\n")
	if len(lines) == 1 {
		for _, p := range strings.Split(lines[0], ",") {
			if k, _, ok := strings.Cut(p, "="); (!ok || !envNameRe.MatchString(strings.TrimSpace(k))) && len(parts) > 0 {
				parts[len(parts)-1] += "," + p
				continue
			}
			parts = append(parts, p)
		}
	} else {
		parts = lines
	}
	var out [][2]string
	for _, p := range parts {
		p = strings.TrimRight(p, "\r")
		if strings.TrimSpace(p) == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || !envNameRe.MatchString(k) {
			// Do not quote the line: it may hold a secret.
			return nil, fmt.Errorf("multienv output has a part that is not NAME=value (part %d)", len(out)+1)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}
