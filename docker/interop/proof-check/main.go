// Command proof-check verifies a c2sp.org/tlog-proof file with golang.org/x/mod alone, as a
// generic tool that knows nothing of liuhen would: the checkpoint's signature with the log's note
// verifier key (golang.org/x/mod/sumdb/note; witness cosignature lines are left unverified), and
// the inclusion proof of the record hash of the proof's extra data (golang.org/x/mod/sumdb/tlog).
//
//	proof-check -vkey VKEY FILE
//	    prints "ok <origin> index <index> size <size>" and exits 0, or "FAIL: why" and exits 1
package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type proof struct {
	extra  []byte
	index  int64
	hashes tlog.RecordProof
	note   []byte
}

func parse(data []byte) (*proof, error) {
	head, signed, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return nil, errors.New("no empty line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		return nil, fmt.Errorf("first line %q", lines[0])
	}
	lines = lines[1:]
	p := &proof{note: signed}
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		extra, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[0], "extra "))
		if err != nil {
			return nil, fmt.Errorf("extra: %v", err)
		}
		p.extra, lines = extra, lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return nil, errors.New("no index line")
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(lines[0], "index "), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("index: %v", err)
	}
	p.index = index
	for _, line := range lines[1:] {
		h, err := tlog.ParseHash(line)
		if err != nil {
			return nil, fmt.Errorf("proof hash %q: %v", line, err)
		}
		p.hashes = append(p.hashes, h)
	}
	return p, nil
}

func check(vkey string, path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	p, err := parse(data)
	if err != nil {
		return "", err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return "", fmt.Errorf("verifier key: %v", err)
	}
	n, err := note.Open(p.note, note.VerifierList(verifier))
	if err != nil {
		return "", fmt.Errorf("checkpoint: %v", err)
	}
	body := strings.SplitN(n.Text, "\n", 4)
	if len(body) < 4 || body[0] != verifier.Name() {
		return "", fmt.Errorf("checkpoint of %q, not of %q", body[0], verifier.Name())
	}
	size, err := strconv.ParseInt(body[1], 10, 64)
	if err != nil {
		return "", fmt.Errorf("size: %v", err)
	}
	root, err := tlog.ParseHash(body[2])
	if err != nil {
		return "", fmt.Errorf("root: %v", err)
	}
	if err := tlog.CheckRecord(p.hashes, size, root, p.index, tlog.RecordHash(p.extra)); err != nil {
		return "", fmt.Errorf("inclusion: %v", err)
	}
	return fmt.Sprintf("ok %s index %d size %d", body[0], p.index, size), nil
}

func main() {
	vkey := flag.String("vkey", "", "the log's note verifier key")
	flag.Parse()
	if *vkey == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: proof-check -vkey VKEY FILE")
		os.Exit(2)
	}
	line, err := check(*vkey, flag.Arg(0))
	if err != nil {
		fmt.Println("FAIL:", err)
		os.Exit(1)
	}
	fmt.Println(line)
}
