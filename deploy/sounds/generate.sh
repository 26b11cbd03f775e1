#!/bin/sh
# generate.sh - render the webcallback prompts from text/<lang>.txt into the
# formats Asterisk plays, under <lang>/<Name>.{wav,ulaw,alaw,gsm}:
#   wav   8 kHz, mono, 16-bit signed PCM (format_wav)
#   ulaw  raw G.711 mu-law, 8 kHz mono (format_pcm)
#   alaw  raw G.711 A-law, 8 kHz mono  (format_pcm)
#   gsm   raw GSM 06.10, 8 kHz mono    (format_gsm)
# Asterisk picks the format that needs no transcoding for the channel's
# codec, so an A-law trunk plays .alaw as is.
#
# Needs espeak-ng and sox (Debian/Ubuntu: apt-get install espeak-ng sox
# libsox-fmt-base). The output is byte-for-byte reproducible for a given
# espeak-ng and sox version: no dither (-D), fixed voice, speed and pitch.
# The test in deploy/asterisk regenerates into a temporary directory and
# compares, when both tools are installed.
#
# words/<lang>.txt are the words the kit composes a warning of any length
# from ("you have" "one" "minute" "and" "thirty" "seconds" "left"): only
# .wav, under words/<lang>/, with little silence around them
# (deploy/sounds/compose.go joins them; asterisk-config --install writes the
# result).
#
# Usage: deploy/sounds/generate.sh [OUTDIR]   (default: this directory)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "generate.sh: $tool not found; install it: apt-get install espeak-ng sox libsox-fmt-base" >&2
		exit 1
	}
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# voice <lang>: the espeak-ng voice and speed for a prompt language.
voice() {
	case $1 in
	en) echo "en-us 165" ;;
	zh) echo "cmn 220" ;;
	*) echo "generate.sh: no voice for language $1" >&2; exit 1 ;;
	esac
}

# render <lang> <textfile> <dir> <kind>: every prompt (kind "prompt") or
# word (kind "word") of one language into <dir>.
render() {
	lang=$1 textfile=$2 dir=$3 kind=$4
	set -- $(voice "$lang")
	v=$1 speed=$2
	# Prompts: a short lead-in so the first syllable is not clipped by a
	# late media path. Words: next to nothing, they are joined.
	pad="0.25 0.1"
	[ "$kind" = word ] && pad="0.02 0.04"
	work="$tmp/$kind-$lang"
	mkdir -p "$dir" "$work"
	# Lines are "Name|text"; '#' lines and empty lines are comments.
	grep -v '^#' "$textfile" | grep -v '^[[:space:]]*$' | while IFS='|' read -r name text; do
		case $name in
		*[!A-Za-z0-9]* | "") echo "generate.sh: bad prompt name '$name' in $textfile" >&2; exit 1 ;;
		esac
		espeak-ng -v "$v" -s "$speed" -p 50 -a 150 -w "$work/raw.wav" "$text"
		# 8 kHz mono; espeak's own leading/trailing silence trimmed, then
		# the padding; telephone band; peak at -3 dBFS; no dither:
		# reproducible.
		sox -D "$work/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$work/8k.wav" \
			gain -6 silence 1 0.02 0.1% reverse silence 1 0.02 0.1% reverse \
			highpass 100 pad $pad gain -n -3
		cp "$work/8k.wav" "$dir/$name.wav"
		echo "$dir/$name.wav"
		[ "$kind" = word ] && continue
		sox -D "$work/8k.wav" -t ul "$dir/$name.ulaw"
		sox -D "$work/8k.wav" -t al "$dir/$name.alaw"
		sox -D "$work/8k.wav" -t gsm "$dir/$name.gsm"
	done
}

# One language per process, all at once; fail if any fails.
pids=""
for textfile in "$here"/text/*.txt; do
	[ -e "$textfile" ] || { echo "generate.sh: no text/*.txt" >&2; exit 1; }
	lang=$(basename "$textfile" .txt)
	render "$lang" "$textfile" "$out/$lang" prompt &
	pids="$pids $!"
	render "$lang" "$here/words/$lang.txt" "$out/words/$lang" word &
	pids="$pids $!"
done
status=0
for pid in $pids; do
	wait "$pid" || status=1
done
exit $status
