"""Test media for the playback tests and benchmarks (standard library only,
the ffmpeg and ffprobe programs of the system).

    import media
    path = media.make_ts("/tmp/oa-media/clip.ts", seconds=20)
    media.ffprobe_streams(path, timeout=30)   # [("video", "h264"), ("audio", "aac")]

make_ts() writes an MPEG-TS of H.264 (libx264, ultrafast, a fixed GOP
without scene-cut keyframes, constant bit rate) and AAC made from
ffmpeg's lavfi test patterns (testsrc2, sine). A file is made once per
set of parameters: the parameters are kept beside it in <path>.params
and a file whose parameters match is used as it is.
"""
import json
import os
import shutil
import subprocess

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
MAKE_TIMEOUT = 600.0  # seconds ffmpeg may take to encode a test file (upper bound)


def tools_missing():
    """The names of the programs this module needs that are not on PATH."""
    return [t for t in (FFMPEG, FFPROBE) if shutil.which(t) is None]


def _params(seconds, size, fps, video_bitrate, gop, audio):
    return {"version": 1, "seconds": seconds, "size": size, "fps": fps,
            "video_bitrate": str(video_bitrate), "gop": gop, "audio": bool(audio)}


def make_ts(path, seconds=20, size="640x360", fps=25, video_bitrate="1M", gop=50, audio=True):
    """Makes the MPEG-TS file path (H.264 + AAC test pattern, seconds long,
    a keyframe every gop frames, video at a constant video_bitrate) unless
    it already exists with the same parameters. Returns path. Raises
    RuntimeError (with ffmpeg's message) when ffmpeg fails."""
    want = _params(seconds, size, fps, video_bitrate, gop, audio)
    side = path + ".params"
    if os.path.exists(path):
        try:
            with open(side) as f:
                if json.load(f) == want:
                    return path
        except (OSError, ValueError):
            pass
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    rate = str(video_bitrate)
    args = [FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    args += ["-map", "0:v"]
    if audio:
        args += ["-map", "1:a"]
    # A keyframe exactly every gop frames (no scene-cut ones), no B-frames,
    # and HRD filler so that the bit rate (and the file's size) is as asked
    # even for a test pattern that compresses well.
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
             "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-bf", "0",
             "-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", rate,
             "-x264-params", "nal-hrd=cbr:force-cfr=1"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "128k", "-ac", "2"]
    tmp = path + ".part"
    args += ["-t", str(seconds), "-f", "mpegts", tmp]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=MAKE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"ffmpeg took more than {MAKE_TIMEOUT:.0f} s to make {path}")
    if p.returncode != 0 or not os.path.exists(tmp):
        raise RuntimeError(f"ffmpeg could not make {path} (exit {p.returncode}): "
                           f"{p.stderr.strip()[-1500:]}\ncommand: {' '.join(args)}")
    os.replace(tmp, path)
    with open(side, "w") as f:
        json.dump(want, f)
    return path


def ffprobe_json(url_or_path, entries, timeout, extra=()):
    """Runs ffprobe -show_entries entries -of json on url_or_path. Returns
    (parsed JSON or None, a description of the run for failure messages)."""
    args = [FFPROBE, "-v", "error"] + list(extra) + ["-show_entries", entries,
                                                     "-of", "json", url_or_path]
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, f"{' '.join(args)}: no answer within {timeout} s"
    desc = (f"{' '.join(args)}: exit {p.returncode}\nstderr: {p.stderr.strip()[-1500:]}\n"
            f"stdout: {p.stdout.strip()[:1500]}")
    if p.returncode != 0:
        return None, desc
    try:
        return json.loads(p.stdout), desc
    except ValueError:
        return None, desc


def ffprobe_streams(url_or_path, timeout):
    """The streams ffprobe finds in url_or_path as a list of (codec_type,
    codec_name), e.g. [("video", "h264"), ("audio", "aac")]; an empty list
    when ffprobe fails or takes longer than timeout seconds."""
    data, _ = ffprobe_json(url_or_path, "stream=codec_type,codec_name", timeout)
    if not isinstance(data, dict):
        return []
    return [(s.get("codec_type"), s.get("codec_name")) for s in data.get("streams", [])]


def ffprobe_duration(url_or_path, timeout):
    """The container duration ffprobe reports for url_or_path in seconds,
    or None."""
    data, _ = ffprobe_json(url_or_path, "format=duration", timeout)
    try:
        return float(data["format"]["duration"])
    except (TypeError, KeyError, ValueError):
        return None
