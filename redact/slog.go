package redact

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
)

// Handler wraps h so that no log line can carry a secret: the message, every
// attribute key and value, group names and the attributes of WithAttrs are
// redacted before h sees them. Values are resolved (slog.LogValuer) first;
// errors, fmt.Stringers, byte slices and any other non-scalar value reach h
// as their redacted text (Error, String, the bytes as text, or %+v), since h
// would otherwise format them where the redactor cannot see. Numbers, bools,
// durations and times pass unchanged.
//
// Attributes given to WithAttrs are redacted again when secrets are added
// later, so a logger made before Add does not leak a secret Add names.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	return &handler{r: r, base: h}
}

// handler is the slog.Handler Redactor.Handler returns. It keeps the
// WithAttrs and WithGroup calls made on it as ops and applies them, redacted,
// to base once per set of secrets.
type handler struct {
	r    *Redactor
	base slog.Handler
	ops  []handlerOp // applied to base in order
	// built is base with ops applied, for the matcher it was built with.
	built atomic.Pointer[builtHandler]
}

// handlerOp is one WithAttrs (attrs set) or WithGroup (group set) call.
type handlerOp struct {
	attrs []slog.Attr // resolved and formatted, not yet redacted
	group string
}

type builtHandler struct {
	m *matcher
	h slog.Handler
}

var _ slog.Handler = (*handler)(nil)

// current returns base with the ops applied for the secrets known now, and
// the matcher they were redacted with.
func (h *handler) current() (slog.Handler, *matcher) {
	m := h.r.matcher()
	if len(h.ops) == 0 {
		return h.base, m
	}
	if b := h.built.Load(); b != nil && b.m == m {
		return b.h, m
	}
	out := h.base
	for _, op := range h.ops {
		if op.attrs != nil {
			out = out.WithAttrs(redactAttrs(m, op.attrs))
		} else {
			out = out.WithGroup(redactText(m, op.group))
		}
	}
	h.built.Store(&builtHandler{m: m, h: out})
	return out, m
}

// Enabled reports whether the wrapped handler handles records at level.
func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	inner, _ := h.current()
	return inner.Enabled(ctx, level)
}

// Handle passes a redacted copy of rec to the wrapped handler.
func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	inner, m := h.current()
	out := slog.NewRecord(rec.Time, rec.Level, redactText(m, rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(m, normalizeAttr(a)))
		return true
	})
	return inner.Handle(ctx, out)
}

// WithAttrs returns a handler whose records carry attrs, redacted.
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	norm := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		norm[i] = normalizeAttr(a)
	}
	return h.with(handlerOp{attrs: norm})
}

// WithGroup returns a handler that puts later attributes in group name.
func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(handlerOp{group: name})
}

func (h *handler) with(op handlerOp) *handler {
	ops := make([]handlerOp, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return &handler{r: h.r, base: h.base, ops: append(ops, op)}
}

// normalizeAttr resolves a's value (inside groups too) and turns every
// non-scalar value into the text a handler would print for it.
func normalizeAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		group := v.Group()
		attrs := make([]slog.Attr, len(group))
		for i, g := range group {
			attrs[i] = normalizeAttr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(attrs...)}
	case slog.KindAny:
		if v.Any() == nil {
			return slog.Attr{Key: a.Key, Value: v}
		}
		return slog.String(a.Key, formatAny(v.Any()))
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}

// formatAny is v's text: Error, String, the bytes, else %+v.
func formatAny(v any) (s string) {
	defer func() {
		if p := recover(); p != nil {
			s = fmt.Sprintf("!PANIC formatting %T", v)
		}
	}()
	switch v := v.(type) {
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	case []byte:
		return string(v)
	default:
		return fmt.Sprintf("%+v", v)
	}
}

// redactAttrs redacts normalized attributes.
func redactAttrs(m *matcher, attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = redactAttr(m, a)
	}
	return out
}

// redactAttr redacts a normalized attribute's key and string values.
func redactAttr(m *matcher, a slog.Attr) slog.Attr {
	a.Key = redactText(m, a.Key)
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(redactText(m, a.Value.String()))
	case slog.KindGroup:
		a.Value = slog.GroupValue(redactAttrs(m, a.Value.Group())...)
	}
	return a
}

// redactText is Redactor.String with a given matcher.
func redactText(m *matcher, s string) string {
	return replace(s, find(m, s, true))
}
