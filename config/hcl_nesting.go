package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// maxHCLNesting caps how deeply a Terraform file may nest before Atoll parses it.
// HCL's recursive-descent parser uses several stack frames (up to about 15 KiB of
// stack) per level and has no limit of its own (hashicorp/hcl#809). Go cannot
// recover from a stack overflow, so without this a .tf file of 80,000 "(" (80 KB)
// kills the server. Real configurations nest a few dozen levels; 1000 levels is
// about 15 MiB of stack.
const maxHCLNesting = 1000

// checkNesting refuses a Terraform file (native syntax, or JSON when name ends in
// .json) that may nest more than maxHCLNesting levels. It over-estimates, never
// under-estimates, the depth the parser would reach; see hclNesting.
func checkNesting(name string, src []byte) error {
	if strings.HasSuffix(name, ".json") {
		return jsonNesting(name, src)
	}
	toks, err := lexHCL(name, src, false)
	if err != nil {
		return err
	}
	return hclNesting(name, toks, false)
}

// commentCloser is appended to what lexHCL lexes; see there.
const commentCloser = "\n*/"

// lexHCL lexes src as a config file (or, with template, as a template). HCL's
// lexer takes time quadratic in the size of the file when a /* comment is never
// closed: for each such /* it scans to the end of the file and back (a 200 KB file
// of "/*\n" takes about a minute, 4 MiB would take hours). So src is lexed with "\n*/"
// appended, which closes such a comment at once, and a file in which the appended
// bytes end a comment is refused. Otherwise every comment closes within src, and
// the tokens are those of src.
func lexHCL(name string, src []byte, template bool) (hclsyntax.Tokens, error) {
	padded := make([]byte, 0, len(src)+len(commentCloser))
	padded = append(append(padded, src...), commentCloser...)
	var toks hclsyntax.Tokens
	if template {
		toks, _ = hclsyntax.LexTemplate(padded, name, hcl.InitialPos)
	} else {
		toks, _ = hclsyntax.LexConfig(padded, name, hcl.InitialPos)
	}
	end := len(src)
	out := toks[:0]
	for _, t := range toks {
		if t.Range.Start.Byte >= end {
			continue // the appended bytes
		}
		if t.Type == hclsyntax.TokenComment && t.Range.End.Byte > end && bytes.HasPrefix(t.Bytes, []byte("/*")) {
			return nil, &Error{File: name, Line: t.Range.Start.Line, Col: t.Range.Start.Column,
				Msg: "has a /* comment that is never closed; Atoll does not parse it"}
		}
		out = append(out, t)
	}
	return out, nil
}

// nestingFrame is one construct the parser recurses into: a bracket pair, a block
// body, a template or an interpolation.
type nestingFrame struct {
	// close is the token that ends the frame.
	close hclsyntax.TokenType
	// chain counts the recursions within the frame that no closing token ends:
	// unary operators (- and !), conditionals (?), full splats ([*]) and template
	// if/for directives. Each ends with the expression it is in.
	chain int
	// newlines says whether a newline ends an expression here (bodies and
	// objects), so that it resets chain; inside ( ) and [ ] it does not.
	newlines bool
}

// hclNesting bounds the parser's recursion over toks and returns a positioned
// *Error when the bound exceeds maxHCLNesting. template says toks are a template
// (LexTemplate) rather than a config file. The bound is the sum over the open
// frames of one plus their chain. It is conservative: a frame closes only at its
// own closing token, and chain resets only at a comma, or at a newline where
// newlines end expressions, both of which end every expression in the frame.
func hclNesting(name string, toks hclsyntax.Tokens, template bool) error {
	stack := []nestingFrame{{close: hclsyntax.TokenEOF, newlines: !template}}
	depth := 1
	push := func(close hclsyntax.TokenType, newlines bool) {
		stack = append(stack, nestingFrame{close: close, newlines: newlines})
		depth++
	}
	for i, t := range toks {
		top := &stack[len(stack)-1]
		switch t.Type {
		case hclsyntax.TokenOBrace:
			// {for ...} is a for expression, where newlines do not end anything.
			push(hclsyntax.TokenCBrace, !nextIsIdent(toks, i, "for"))
		case hclsyntax.TokenOBrack:
			if next := nextToken(toks, i); next != nil && next.Type == hclsyntax.TokenStar {
				top.chain++ // a full splat parses the rest of the traversal recursively
				depth++
			}
			push(hclsyntax.TokenCBrack, false)
		case hclsyntax.TokenOParen:
			push(hclsyntax.TokenCParen, false)
		case hclsyntax.TokenOQuote:
			push(hclsyntax.TokenCQuote, false)
		case hclsyntax.TokenOHeredoc:
			push(hclsyntax.TokenCHeredoc, false)
		case hclsyntax.TokenTemplateInterp:
			push(hclsyntax.TokenTemplateSeqEnd, false)
		case hclsyntax.TokenTemplateControl:
			if !nextIsIdent(toks, i, "endif") && !nextIsIdent(toks, i, "endfor") && !nextIsIdent(toks, i, "else") {
				top.chain++ // an if or for directive's body nests until its end directive
				depth++
			}
			push(hclsyntax.TokenTemplateSeqEnd, false)
		case hclsyntax.TokenMinus, hclsyntax.TokenBang, hclsyntax.TokenQuestion:
			top.chain++
			depth++
		case hclsyntax.TokenComma:
			depth -= top.chain
			top.chain = 0
		case hclsyntax.TokenNewline:
			if top.newlines {
				depth -= top.chain
				top.chain = 0
			}
		case hclsyntax.TokenComment:
			// A line comment takes the place of the newline that ends it.
			if top.newlines && bytes.HasSuffix(t.Bytes, []byte("\n")) {
				depth -= top.chain
				top.chain = 0
			}
		default:
			if len(stack) > 1 && t.Type == top.close {
				depth -= 1 + top.chain
				stack = stack[:len(stack)-1]
			}
		}
		if depth > maxHCLNesting {
			return &Error{File: name, Line: t.Range.Start.Line, Col: t.Range.Start.Column,
				Msg: fmt.Sprintf("nests more than %d levels deep; Atoll does not parse it", maxHCLNesting)}
		}
	}
	return nil
}

// nextToken returns the token after toks[i], skipping newlines and comments
// (the parser ignores both: "[/**/*]" is a splat), or nil.
func nextToken(toks hclsyntax.Tokens, i int) *hclsyntax.Token {
	for j := i + 1; j < len(toks); j++ {
		if toks[j].Type != hclsyntax.TokenNewline && toks[j].Type != hclsyntax.TokenComment {
			return &toks[j]
		}
	}
	return nil
}

// nextIsIdent says whether the token after toks[i] is the identifier word.
func nextIsIdent(toks hclsyntax.Tokens, i int, word string) bool {
	t := nextToken(toks, i)
	return t != nil && t.Type == hclsyntax.TokenIdent && string(t.Bytes) == word
}

// jsonNesting refuses a .tf.json file whose arrays and objects nest more than
// maxHCLNesting levels, or one of whose strings is a template (HCL parses
// "${...}" in JSON strings when their value is read) that would. Input that is not
// JSON is refused too: HCL's parser would reject it anyway.
func jsonNesting(name string, src []byte) error {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	depth := 0
	for {
		offset := dec.InputOffset()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &Error{File: name, Msg: "is not valid JSON; Atoll does not parse it"}
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '[' || v == '{' {
				depth++
			} else {
				depth--
			}
			if depth > maxHCLNesting {
				line, col := lineCol(src, offset)
				return &Error{File: name, Line: line, Col: col,
					Msg: fmt.Sprintf("nests more than %d levels deep; Atoll does not parse it", maxHCLNesting)}
			}
		case string:
			if !strings.Contains(v, "${") && !strings.Contains(v, "%{") {
				continue
			}
			toks, err := lexHCL(name, []byte(v), true)
			if err == nil {
				err = hclNesting(name, toks, true)
			}
			if err != nil {
				line, col := lineCol(src, offset)
				return &Error{File: name, Line: line, Col: col,
					Msg: templateMsg(Errors(err)[0].Msg)}
			}
		}
	}
}

// templateMsg turns lexHCL's or hclNesting's message about a file into one about
// a template in the file.
func templateMsg(msg string) string {
	if rest, ok := strings.CutPrefix(msg, "has "); ok {
		return "has a template with " + rest
	}
	return "has a template that " + msg
}

// lineCol returns the 1-based line and column of byte offset in src, pointing past
// any white space or separator there (json.Decoder reports the offset before them).
func lineCol(src []byte, offset int64) (int, int) {
	for offset < int64(len(src)) && strings.IndexByte(" \t\r\n,:", src[offset]) >= 0 {
		offset++
	}
	before := src[:min(offset, int64(len(src)))]
	line := 1 + bytes.Count(before, []byte("\n"))
	col := 1 + len(before) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}
