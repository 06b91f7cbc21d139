"""The PCM format every audio path inside a line worker uses: 16 kHz mono s16, 20 ms.

Both legs meet here: the pjsua2 audio port produces and consumes it, and the WebRTC
side resamples the browser's 48 kHz stereo to it (and aiortc's encoders resample it
back to Opus or G.711 rates).
"""

SAMPLE_RATE = 16000
FRAME_MS = 20
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = SAMPLES_PER_FRAME * 2
SILENCE = bytes(FRAME_BYTES)
