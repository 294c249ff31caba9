package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Check evaluates planJSON (the output of `terraform show -json PLANFILE`)
// against every loaded policy set and returns one Result per set, in the order
// the sets were given to Load. An error means a set could not be evaluated (the
// plan is not JSON, a rule failed at run time, or a rule yielded a value that is
// neither a string nor an object with a string "msg"); callers must then treat
// the check as failed.
func (c *Checker) Check(ctx context.Context, planJSON []byte) ([]Result, error) {
	// Convert the plan once; every set evaluates against the same value.
	input, err := ast.ValueFromReader(bytes.NewReader(planJSON))
	if err != nil {
		return nil, fmt.Errorf("parse plan json: %w", err)
	}
	results := make([]Result, 0, len(c.sets))
	for _, s := range c.sets {
		r, err := s.check(ctx, input)
		if err != nil {
			return nil, fmt.Errorf("check policy set %q: %w", s.name, err)
		}
		results = append(results, r)
	}
	return results, nil
}

func (s *compiledSet) check(ctx context.Context, input ast.Value) (Result, error) {
	res := Result{Set: s.name}
	rs, err := s.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return Result{}, fmt.Errorf("evaluate: %w", err)
	}
	if len(s.rules) > 0 {
		if len(rs) != 1 {
			return Result{}, fmt.Errorf("evaluate: got %d results, want 1", len(rs))
		}
		bindings := rs[0].Bindings
		for _, r := range s.rules {
			if r.exceptVar != "" {
				if hits, _ := bindings[r.exceptVar].([]any); len(hits) > 0 {
					continue
				}
			}
			msgs, err := messages(bindings[r.valueVar])
			if err != nil {
				return Result{}, fmt.Errorf("rule %s: %w", r.ref(), err)
			}
			if r.failure {
				res.Failures = append(res.Failures, msgs...)
			} else {
				res.Warnings = append(res.Warnings, msgs...)
			}
		}
	}
	slices.Sort(res.Failures)
	slices.Sort(res.Warnings)
	res.Passed = len(res.Failures) == 0
	return res, nil
}

// messages turns a rule's wrapped value ([] when undefined, else [value]) into
// its messages. A set (or array) yields one message per element; a complete
// rule's single string or object yields one; false yields none.
func messages(wrapped any) ([]string, error) {
	vals, ok := wrapped.([]any)
	if !ok {
		return nil, fmt.Errorf("unexpected query value %T", wrapped)
	}
	var out []string
	for _, v := range vals {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				m, err := message(e)
				if err != nil {
					return nil, err
				}
				out = append(out, m)
			}
		case bool:
			if v {
				return nil, fmt.Errorf("value is true, not a set of messages")
			}
		default:
			m, err := message(v)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// message is one element of a rule's value: a string, or an object whose "msg"
// is a string (conftest's structured violation).
func message(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case map[string]any:
		if m, ok := v["msg"].(string); ok {
			return m, nil
		}
		return "", fmt.Errorf("object %s has no string \"msg\" field", compact(v))
	default:
		return "", fmt.Errorf("value %s is neither a string nor an object with \"msg\"", compact(v))
	}
}

// compact renders v as JSON for an error message, cut to a readable length.
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	const max = 120
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
