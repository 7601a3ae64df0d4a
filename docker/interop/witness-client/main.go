// Command witness-client is a c2sp.org/tlog-witness client that is not liuhen's: it keeps a
// transparency log of its own in memory (golang.org/x/mod/sumdb/tlog), signs its checkpoints
// with its own note key (golang.org/x/mod/sumdb/note), submits them with consistency proofs to a
// witness, and checks the witness's cosignatures (c2sp.org/tlog-cosignature, type 0x04) with the
// witness's verifier key. It also plays a misbehaving log (stale sizes, a fork, a split view, a
// rolled-back and a vanished log, a forged signature, an unknown origin) and checks each refusal.
//
//	witness-client keygen -origin ORIGIN
//	    prints the log's signer key and verifier key, one a line
//	witness-client run -url URL -skey SKEY -witness VKEY
//	    runs the steps against the witness at URL (its submission prefix); prints "ok <step>" or
//	    "FAIL <step>: why" for each, and exits 1 if one failed
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const extension = "go-witness-client an opaque extension line\n"

// memLog is a Merkle tree in memory: the stored hashes of golang.org/x/mod/sumdb/tlog.
type memLog struct {
	hashes []tlog.Hash
	size   int64
}

func (l *memLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

func (l *memLog) grow(to int64, tag string) {
	for l.size < to {
		hashes, err := tlog.StoredHashes(l.size, []byte(fmt.Sprintf("%s entry %d", tag, l.size)), l)
		if err != nil {
			panic(err)
		}
		l.hashes = append(l.hashes, hashes...)
		l.size++
	}
}

func (l *memLog) root(size int64) tlog.Hash {
	h, err := tlog.TreeHash(size, l)
	if err != nil {
		panic(err)
	}
	return h
}

func (l *memLog) proof(old, size int64) tlog.TreeProof {
	if old == 0 || old == size {
		return nil
	}
	p, err := tlog.ProveTree(size, old, l)
	if err != nil {
		panic(err)
	}
	return p
}

// checkpoint is the log's signed checkpoint at size (c2sp.org/tlog-checkpoint), with an extension line.
func (l *memLog) checkpoint(origin string, size int64, signer note.Signer) []byte {
	root := l.root(size)
	text := fmt.Sprintf("%s\n%d\n%s\n%s", origin, size, base64.StdEncoding.EncodeToString(root[:]), extension)
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		panic(err)
	}
	return signed
}

// cosigner verifies timestamped cosignature/v1 signatures (c2sp.org/tlog-cosignature, type 0x04).
type cosigner struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (c *cosigner) Name() string    { return c.name }
func (c *cosigner) KeyHash() uint32 { return c.hash }
func (c *cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	timestamp := binary.BigEndian.Uint64(sig[:8])
	signed := fmt.Sprintf("cosignature/v1\ntime %d\n%s", timestamp, msg)
	return ed25519.Verify(c.key, []byte(signed), sig[8:])
}

// parseCosigner reads a type 0x04 verifier key: name+hexid+base64(0x04 || key).
func parseCosigner(vkey string) (*cosigner, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	id, key64, ok2 := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.DecodeString(key64)
	hash, err2 := strconv.ParseUint(id, 16, 32)
	if !ok1 || !ok2 || err != nil || err2 != nil || len(id) != 8 || len(key) != 33 || key[0] != 0x04 {
		return nil, errors.New("not a type 0x04 cosigner verifier key")
	}
	h := sha256.Sum256(append([]byte(name+"\n"), key...))
	if binary.BigEndian.Uint32(h[:4]) != uint32(hash) {
		return nil, errors.New("cosigner key ID does not match the key")
	}
	return &cosigner{name: name, hash: uint32(hash), key: ed25519.PublicKey(key[1:])}, nil
}

type answer struct {
	status      int
	contentType string
	body        []byte
}

type client struct {
	url     string
	http    *http.Client
	log     note.Verifier
	witness *cosigner
}

func (c *client) submit(old int64, proof tlog.TreeProof, checkpoint []byte) (answer, error) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	for _, h := range proof {
		fmt.Fprintf(&body, "%s\n", base64.StdEncoding.EncodeToString(h[:]))
	}
	body.WriteString("\n")
	body.Write(checkpoint)
	resp, err := c.http.Post(c.url+"/add-checkpoint", "text/plain", &body)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), data}, err
}

// cosigned submits and checks the answer is a valid cosignature of checkpoint by the witness.
func (c *client) cosigned(old int64, proof tlog.TreeProof, checkpoint []byte) error {
	a, err := c.submit(old, proof, checkpoint)
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		return fmt.Errorf("status %d: %s", a.status, strings.TrimSpace(string(a.body)))
	}
	n, err := note.Open(append(append([]byte{}, checkpoint...), a.body...), note.VerifierList(c.log, c.witness))
	if err != nil {
		return fmt.Errorf("the cosigned note does not verify: %v", err)
	}
	for _, sig := range n.Sigs {
		if sig.Name == c.witness.name && sig.Hash == c.witness.hash {
			raw, _ := base64.StdEncoding.DecodeString(sig.Base64)
			timestamp := int64(binary.BigEndian.Uint64(raw[4:12]))
			if d := time.Since(time.Unix(timestamp, 0)); timestamp == 0 || d > time.Hour || d < -time.Hour {
				return fmt.Errorf("cosignature time %d is not now", timestamp)
			}
			return nil
		}
	}
	return errors.New("no cosignature by the witness in the answer")
}

// refused submits and checks the witness refuses with status (and, for 409, names size known).
func (c *client) refused(old int64, proof tlog.TreeProof, checkpoint []byte, status int, known int64) error {
	a, err := c.submit(old, proof, checkpoint)
	if err != nil {
		return err
	}
	if a.status != status {
		return fmt.Errorf("status %d (want %d): %s", a.status, status, strings.TrimSpace(string(a.body)))
	}
	if status == http.StatusConflict {
		if a.contentType != "text/x.tlog.size" {
			return fmt.Errorf("409 with Content-Type %q, want text/x.tlog.size", a.contentType)
		}
		if string(a.body) != fmt.Sprintf("%d\n", known) {
			return fmt.Errorf("409 names size %q, want %d", a.body, known)
		}
	}
	return nil
}

func run(url, skey, witnessKey string) bool {
	signer, err := note.NewSigner(skey)
	if err != nil {
		fmt.Println("FAIL setup: log key:", err)
		return false
	}
	origin := signer.Name()
	witness, err := parseCosigner(witnessKey)
	if err != nil {
		fmt.Println("FAIL setup: witness key:", err)
		return false
	}
	logVerifier, err := verifierOf(skey)
	if err != nil {
		fmt.Println("FAIL setup: log verifier:", err)
		return false
	}
	c := &client{url: strings.TrimSuffix(url, "/"), http: &http.Client{Timeout: 10 * time.Second}, log: logVerifier, witness: witness}

	honest := &memLog{}
	fork := &memLog{}
	honest.grow(25, "honest")
	fork.grow(15, "honest")
	fork.grow(25, "fork")
	fresh := &memLog{}
	fresh.grow(3, "vanished")
	forgerSkey, _, _ := note.GenerateKey(rand.Reader, origin)
	forger, _ := note.NewSigner(forgerSkey)
	strangerSkey, _, _ := note.GenerateKey(rand.Reader, "stranger.example/log")
	stranger, _ := note.NewSigner(strangerSkey)

	steps := []struct {
		name string
		do   func() error
	}{
		{"first checkpoint, from size 0", func() error { return c.cosigned(0, nil, honest.checkpoint(origin, 5, signer)) }},
		{"extended with a consistency proof", func() error {
			return c.cosigned(5, honest.proof(5, 12), honest.checkpoint(origin, 12, signer))
		}},
		{"stale old size answered 409 with the size known", func() error {
			return c.refused(5, honest.proof(5, 20), honest.checkpoint(origin, 20, signer), 409, 12)
		}},
		{"retried from the size the witness named", func() error {
			return c.cosigned(12, honest.proof(12, 20), honest.checkpoint(origin, 20, signer))
		}},
		{"fork refused: proof from the fork's size 20", func() error {
			return c.refused(20, fork.proof(20, 25), fork.checkpoint(origin, 25, signer), 422, 0)
		}},
		{"split view refused: another root at size 20", func() error {
			return c.refused(20, nil, fork.checkpoint(origin, 20, signer), 422, 0)
		}},
		{"roll-back refused: old size above the checkpoint's", func() error {
			return c.refused(20, nil, honest.checkpoint(origin, 12, signer), 400, 0)
		}},
		{"roll-back refused: size 12 after 20", func() error {
			return c.refused(12, nil, honest.checkpoint(origin, 12, signer), 409, 20)
		}},
		{"vanished log refused: a new log from size 0", func() error {
			return c.refused(0, nil, fresh.checkpoint(origin, 3, signer), 409, 20)
		}},
		{"forged signature refused", func() error {
			return c.refused(20, honest.proof(20, 25), honest.checkpoint(origin, 25, forger), 403, 0)
		}},
		{"unknown origin refused", func() error {
			return c.refused(0, nil, honest.checkpoint("stranger.example/log", 5, stranger), 404, 0)
		}},
		{"the honest log goes on", func() error {
			return c.cosigned(20, honest.proof(20, 25), honest.checkpoint(origin, 25, signer))
		}},
	}
	ok := true
	for _, step := range steps {
		if err := step.do(); err != nil {
			fmt.Printf("FAIL %s: %v\n", step.name, err)
			ok = false
		} else {
			fmt.Printf("ok %s\n", step.name)
		}
	}
	return ok
}

// verifierOf derives the note verifier of a signer key (PRIVATE+KEY+name+hash+base64(0x01 || seed)).
func verifierOf(skey string) (note.Verifier, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 {
		return nil, errors.New("malformed signer key")
	}
	seed, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(seed) != 33 {
		return nil, errors.New("malformed signer key")
	}
	public := ed25519.NewKeyFromSeed(seed[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(parts[2], public)
	if err != nil {
		return nil, err
	}
	return note.NewVerifier(vkey)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: witness-client keygen -origin ORIGIN | run -url URL -skey SKEY -witness VKEY")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "keygen":
		fs := flag.NewFlagSet("keygen", flag.ExitOnError)
		origin := fs.String("origin", "", "the log's origin (and its key's name)")
		fs.Parse(os.Args[2:])
		skey, vkey, err := note.GenerateKey(rand.Reader, *origin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "keygen:", err)
			os.Exit(1)
		}
		fmt.Println(skey)
		fmt.Println(vkey)
	case "run":
		fs := flag.NewFlagSet("run", flag.ExitOnError)
		url := fs.String("url", "", "the witness's submission prefix")
		skey := fs.String("skey", "", "the log's signer key")
		witness := fs.String("witness", "", "the witness's verifier key (type 0x04)")
		fs.Parse(os.Args[2:])
		if !run(*url, *skey, *witness) {
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
