// Command verify checks the portal's evidence log output with Go's own
// transparency-log packages (golang.org/x/mod/sumdb/note and sumdb/tlog),
// which nobody on the portal wrote. It reads one JSON case from stdin:
//
//	{"vkey": "...", "checkpoint": "<signed note>", "old_checkpoint": "<signed note>",
//	 "consistency": ["<base64 hash>", ...],
//	 "records": [{"index": 0, "data": "<base64 leaf>", "proof": ["<base64 hash>", ...]}],
//	 "proof_files": [{"file": "<c2sp.org/tlog-proof@v1 text>", "leaf": "<base64 leaf>"}]}
//
// A proof file is read by this program from its spec (header, optional
// extra, index, hashes, blank line, checkpoint); the leaf it checks is the
// one given beside it, never the file's own "extra".
//
// and prints "ok: ..." and exits 0 when every signature and proof verifies,
// or prints what failed and exits 1.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type record struct {
	Index int64    `json:"index"`
	Data  string   `json:"data"`
	Proof []string `json:"proof"`
}

type proofFile struct {
	File string `json:"file"`
	Leaf string `json:"leaf"`
}

type testCase struct {
	Vkey          string      `json:"vkey"`
	Checkpoint    string      `json:"checkpoint"`
	OldCheckpoint string      `json:"old_checkpoint"`
	Consistency   []string    `json:"consistency"`
	Records       []record    `json:"records"`
	ProofFiles    []proofFile `json:"proof_files"`
}

// checkProofFile verifies a c2sp.org/tlog-proof@v1 file for leaf.
func checkProofFile(verifiers note.Verifiers, file string, leaf []byte) {
	head, checkpoint, found := strings.Cut(file, "\n\n")
	if !found {
		fail("proof file has no blank line")
	}
	lines := strings.Split(head, "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		fail("proof file header %q", lines[0])
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		fail("proof file has no index line")
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "index "), 10, 64)
	if err != nil || index < 0 {
		fail("proof file index %q", lines[0])
	}
	proof := make(tlog.RecordProof, 0, len(lines)-1)
	for _, l := range lines[1:] {
		proof = append(proof, hash(l))
	}
	_, size, root := open(verifiers, checkpoint)
	if err := tlog.CheckRecord(proof, size, root, index, tlog.RecordHash(leaf)); err != nil {
		fail("proof file: tlog.CheckRecord(index %d, size %d): %v", index, size, err)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fail("not a base64 hash: %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

// open verifies a checkpoint note and reads its origin, size and root.
func open(verifiers note.Verifiers, msg string) (string, int64, tlog.Hash) {
	n, err := note.Open([]byte(msg), verifiers)
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		fail("checkpoint has %d lines", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 {
		fail("checkpoint size %q", lines[1])
	}
	return lines[0], size, hash(lines[2])
}

func main() {
	var c testCase
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		fail("reading the case: %v", err)
	}
	v, err := note.NewVerifier(c.Vkey)
	if err != nil {
		fail("note.NewVerifier: %v", err)
	}
	verifiers := note.VerifierList(v)
	origin, size, root := open(verifiers, c.Checkpoint)
	if origin != v.Name() {
		fail("origin %q is not the key name %q", origin, v.Name())
	}
	for _, r := range c.Records {
		data, err := base64.StdEncoding.DecodeString(r.Data)
		if err != nil {
			fail("record %d data: %v", r.Index, err)
		}
		proof := make(tlog.RecordProof, len(r.Proof))
		for i, p := range r.Proof {
			proof[i] = hash(p)
		}
		if err := tlog.CheckRecord(proof, size, root, r.Index, tlog.RecordHash(data)); err != nil {
			fail("tlog.CheckRecord(index %d, size %d): %v", r.Index, size, err)
		}
	}
	for _, p := range c.ProofFiles {
		leaf, err := base64.StdEncoding.DecodeString(p.Leaf)
		if err != nil {
			fail("proof file leaf: %v", err)
		}
		checkProofFile(verifiers, p.File, leaf)
	}
	checked := ""
	if c.OldCheckpoint != "" {
		oldOrigin, oldSize, oldRoot := open(verifiers, c.OldCheckpoint)
		if oldOrigin != origin {
			fail("old checkpoint is of another log: %q", oldOrigin)
		}
		proof := make(tlog.TreeProof, len(c.Consistency))
		for i, p := range c.Consistency {
			proof[i] = hash(p)
		}
		if err := tlog.CheckTree(proof, size, root, oldSize, oldRoot); err != nil {
			fail("tlog.CheckTree(%d -> %d): %v", oldSize, size, err)
		}
		checked = fmt.Sprintf(", consistent with size %d", oldSize)
	}
	if !bytes.HasSuffix([]byte(c.Checkpoint), []byte("\n")) {
		fail("checkpoint does not end in a newline")
	}
	fmt.Printf("ok: %s size %d, %d record(s) included, %d proof file(s)%s\n", origin, size, len(c.Records), len(c.ProofFiles), checked)
}
