// Injected by the tests: is a tone of `freq` Hz in the softphone's received audio?
// A WebAudio analyser on the remote stream; true when the loudest bin lies within
// 60 Hz of `freq` and stands 25 dB above the median bin.
async (freq) => {
  const audio = document.getElementById("softphone-remote-audio");
  const stream = audio && audio.srcObject;
  if (!stream || stream.getAudioTracks().length === 0) return { present: false, why: "no stream" };
  if (!window.__toneProbe || window.__toneProbe.stream !== stream) {
    const ctx = new AudioContext();
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    ctx.createMediaStreamSource(stream).connect(analyser);
    window.__toneProbe = { stream, ctx, analyser };
  }
  const { ctx, analyser } = window.__toneProbe;
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let peak = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[peak]) peak = i;
  const sorted = Array.from(bins).filter(Number.isFinite).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const peakHz = (peak * ctx.sampleRate) / analyser.fftSize;
  const present = Math.abs(peakHz - freq) < 60 && bins[peak] - median > 25 && bins[peak] > -70;
  return { present, peakHz, peakDb: bins[peak], medianDb: median };
}
