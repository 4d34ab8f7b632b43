"""The demo catalogue: providers and models a small generation platform would plausibly run.

Each model carries how the demo jobs treat it: popularity (relative share of jobs), failure rate and
mean quality rating. The gaps are deliberate, so that the dashboard's warnings have something to
show: image/background-removal has active models but no default, text/summarization has no active
model, and Stable Diffusion 1.5 is the image/generation fallback of an inactive provider.
"""

from datetime import UTC, datetime
from uuid import UUID

PROVIDERS = [
    # name, display_name, base_url, auth_scheme, is_active
    ("replicate", "Replicate", "https://api.replicate.com/v1", "bearer", True),
    ("openai", "OpenAI", "https://api.openai.com/v1", "bearer", True),
    ("elevenlabs", "ElevenLabs", "https://api.elevenlabs.io/v1", "api_key_header", True),
    ("runway", "Runway", "https://api.dev.runwayml.com/v1", "bearer", True),
    ("fal", "fal.ai", "https://fal.run", "key", True),
    (
        "legacy-diffusion",
        "Legacy Diffusion Cloud",
        "https://api.legacy-diffusion.example/v2",
        "bearer",
        False,
    ),
]

# The seed's example row, exactly (created_by and provider_id are filled in with the demo admin and
# the Replicate provider, since the seed's placeholders are not ids).
SDXL_ID = UUID("550e8400-e29b-41d4-a716-446655440000")
SDXL_TIMESTAMP = datetime(2025, 8, 30, 10, 0, tzinfo=UTC)
SDXL = {
    "id": SDXL_ID,
    "created_at": SDXL_TIMESTAMP,
    "updated_at": SDXL_TIMESTAMP,
    "model_key": "stability-ai/sdxl:39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b",
    "version": "1.0",
    "display_name": "SDXL 1.0",
    "modality": "image",
    "task": "generation",
    "model_family": "SDXL",
    "endpoint_path": "/predictions",
    "input_defaults": {
        "prompt": "", "negative_prompt": "", "width": 1024, "height": 1024,
        "num_inference_steps": 50, "guidance_scale": 7.5,
    },
    "capabilities": {
        "max_resolution": "1024x1024", "supports_negative_prompts": True,
        "supports_image_to_image": True, "supports_inpainting": False,
    },
    "pricing": {"per_image": 0.0023, "currency": "USD", "billing_unit": "per_image"},
    "output_format": "image/jpeg",
    "is_active": True,
    "is_default": True,
    "priority": 1,
}  # fmt: skip
SDXL_BEHAVIOUR = (30, 0.04, 4.1)  # popularity, failure rate, mean rating


def _price(unit: str, amount: float) -> dict:
    return {unit: amount, "currency": "USD", "billing_unit": unit}


_IMG = {"prompt": "", "width": 1024, "height": 1024}
_VID = {"prompt": "", "duration": 5, "fps": 24}

# provider, model_key, version, display_name, modality, task, family, endpoint, input_defaults,
# capabilities, pricing, output_format, is_active, is_default, priority, (popularity, failure rate, rating)
MODELS = [
    ("replicate", "black-forest-labs/flux-1.1-pro", "1.1", "Flux 1.1 Pro", "image", "generation", "FLUX",
     "/predictions", {**_IMG, "guidance_scale": 3.5}, {"max_resolution": "1440x1440", "supports_image_to_image": True},
     _price("per_image", 0.04), "image/webp", True, False, 2, (22, 0.03, 4.4)),
    ("fal", "fal-ai/flux/schnell", "1.0", "Flux Schnell", "image", "generation", "FLUX", "/fal-ai/flux/schnell",
     {**_IMG, "num_inference_steps": 4}, {"max_resolution": "1024x1024"}, _price("per_image", 0.003), "image/jpeg",
     True, False, 3, (18, 0.05, 3.6)),
    ("openai", "dall-e-3", "3", "DALL·E 3", "image", "generation", "DALL-E", "/images/generations",
     {"prompt": "", "width": 1024, "height": 1024}, {"max_resolution": "1792x1024", "supports_negative_prompts": False},
     _price("per_image", 0.04), "image/png", True, False, 4, (10, 0.02, 4.0)),
    ("legacy-diffusion", "sd-1.5", "1.5", "Stable Diffusion 1.5", "image", "generation", "SD",
     "/generate", {**_IMG, "width": 512, "height": 512}, {"max_resolution": "512x512"},
     _price("per_image", 0.0015), "image/png", True, False, 5, (6, 0.18, 3.0)),
    ("replicate", "stability-ai/stable-diffusion:2.1", "2.1", "Stable Diffusion 2.1", "image", "generation", "SD",
     "/predictions", {**_IMG, "width": 768, "height": 768}, {"max_resolution": "768x768"},
     _price("per_image", 0.0019), "image/png", False, False, 9, (4, 0.09, 3.2)),
    ("replicate", "nightmareai/real-esrgan", "4x", "Real-ESRGAN 4×", "image", "upscale", "ESRGAN", "/predictions",
     {"scale": 4}, {"max_resolution": "4096x4096"}, _price("per_image", 0.0011), "image/png",
     True, True, 1, (9, 0.02, 4.2)),
    ("fal", "fal-ai/clarity-upscaler", "1.0", "Clarity Upscaler", "image", "upscale", "Clarity",
     "/fal-ai/clarity-upscaler", {"scale": 2}, {"max_resolution": "8192x8192"}, _price("per_image", 0.03),
     "image/png", True, False, 2, (3, 0.06, 4.5)),
    ("replicate", "stability-ai/sdxl-inpainting", "1.0", "SDXL Inpainting", "image", "inpainting", "SDXL",
     "/predictions", {**_IMG, "guidance_scale": 8.0}, {"supports_inpainting": True}, _price("per_image", 0.0025),
     "image/png", True, True, 1, (5, 0.07, 3.8)),
    ("fal", "fal-ai/flux-pro/v1/fill", "1.0", "Flux Fill Pro", "image", "inpainting", "FLUX", "/fal-ai/flux-pro/v1/fill",
     {**_IMG}, {"supports_inpainting": True}, _price("per_image", 0.05), "image/png", True, False, 2, (3, 0.04, 4.3)),
    ("replicate", "cjwbw/rembg", "1.4", "RemBG", "image", "background-removal", "U2Net", "/predictions", {},
     {"supports_alpha": True}, _price("per_image", 0.0004), "image/png", True, False, 1, (4, 0.03, 4.0)),
    ("fal", "fal-ai/birefnet", "2", "BiRefNet", "image", "background-removal", "BiRefNet", "/fal-ai/birefnet", {},
     {"supports_alpha": True}, _price("per_image", 0.001), "image/png", True, False, 2, (2, 0.05, 4.2)),
    ("openai", "gpt-4o", "2024-08-06", "GPT-4o", "text", "generation", "GPT-4", "/chat/completions",
     {"max_tokens": 1024, "temperature": 0.7}, {"max_context_tokens": 128000, "supports_tools": True},
     _price("per_1m_tokens", 5.0), "application/json", True, True, 1, (25, 0.01, 4.5)),
    ("openai", "gpt-4o-mini", "2024-07-18", "GPT-4o mini", "text", "generation", "GPT-4", "/chat/completions",
     {"max_tokens": 1024, "temperature": 0.7}, {"max_context_tokens": 128000, "supports_tools": True},
     _price("per_1m_tokens", 0.6), "application/json", True, False, 2, (30, 0.01, 4.0)),
    ("replicate", "meta/meta-llama-3.1-70b-instruct", "3.1", "Llama 3.1 70B Instruct", "text", "generation", "Llama",
     "/predictions", {"max_tokens": 1024, "temperature": 0.6, "top_p": 0.9}, {"max_context_tokens": 128000},
     _price("per_1m_tokens", 2.75), "application/json", True, False, 3, (8, 0.04, 3.9)),
    ("replicate", "mistralai/mixtral-8x7b-instruct-v0.1", "0.1", "Mixtral 8×7B Instruct", "text", "generation",
     "Mixtral", "/predictions", {"max_tokens": 512, "temperature": 0.7}, {"max_context_tokens": 32768},
     _price("per_1m_tokens", 1.0), "application/json", False, False, 8, (3, 0.08, 3.4)),
    ("openai", "omni-moderation-latest", "2024-09-26", "Omni Moderation", "text", "classification", "Moderation",
     "/moderations", {}, {"supports_images": True}, _price("per_request", 0.0), "application/json",
     True, True, 1, (12, 0.005, 4.6)),
    ("openai", "text-embedding-3-small", "3", "Embedding 3 Small", "text", "embedding", "Embedding", "/embeddings",
     {}, {"max_input_tokens": 8191, "dimensions": 1536}, _price("per_1m_tokens", 0.02), "application/json",
     True, True, 1, (14, 0.003, None)),
    ("openai", "text-embedding-3-large", "3", "Embedding 3 Large", "text", "embedding", "Embedding", "/embeddings",
     {}, {"max_input_tokens": 8191, "dimensions": 3072}, _price("per_1m_tokens", 0.13), "application/json",
     True, False, 2, (4, 0.003, None)),
    ("replicate", "facebook/bart-large-cnn", "1.0", "BART Large CNN", "text", "summarization", "BART",
     "/predictions", {"max_tokens": 256}, {"max_input_tokens": 1024}, _price("per_1m_tokens", 0.5),
     "application/json", False, False, 1, (2, 0.11, 3.1)),
    ("runway", "gen3a_turbo", "3a", "Gen-3 Alpha Turbo", "video", "generation", "Gen-3", "/image_to_video",
     {**_VID, "duration": 10}, {"max_resolution": "1280x768", "max_duration_seconds": 10},
     _price("per_second", 0.05), "video/mp4", True, True, 1, (7, 0.08, 4.1)),
    ("fal", "fal-ai/kling-video/v1.6/standard", "1.6", "Kling 1.6", "video", "generation", "Kling",
     "/fal-ai/kling-video", {**_VID}, {"max_resolution": "1920x1080", "max_duration_seconds": 10},
     _price("per_second", 0.045), "video/mp4", True, False, 2, (5, 0.12, 4.0)),
    ("replicate", "tencent/hunyuan-video", "1.0", "HunyuanVideo", "video", "generation", "Hunyuan", "/predictions",
     {**_VID, "num_frames": 129}, {"max_resolution": "1280x720"}, _price("per_second", 0.09), "video/mp4",
     True, False, 3, (2, 0.22, 3.7)),
    ("replicate", "stability-ai/stable-video-diffusion", "1.1", "Stable Video Diffusion", "video", "image-to-video",
     "SVD", "/predictions", {"fps": 6, "num_frames": 25}, {"max_resolution": "1024x576"},
     _price("per_second", 0.02), "video/mp4", True, True, 1, (4, 0.1, 3.5)),
    ("runway", "gen3a_turbo_i2v", "3a", "Gen-3 Alpha Image to Video", "video", "image-to-video", "Gen-3",
     "/image_to_video", {"duration": 5}, {"max_resolution": "1280x768"}, _price("per_second", 0.05),
     "video/mp4", True, False, 2, (3, 0.07, 4.2)),
    ("elevenlabs", "eleven_multilingual_v2", "2", "Eleven Multilingual v2", "audio", "tts", "Eleven",
     "/text-to-speech", {"voice": "Rachel", "sample_rate": 44100}, {"supports_streaming": True, "max_characters": 10000},
     _price("per_character", 0.00018), "audio/mpeg", True, True, 1, (9, 0.015, 4.6)),
    ("openai", "tts-1", "1", "OpenAI TTS-1", "audio", "tts", "TTS", "/audio/speech", {"voice": "alloy"},
     {"supports_streaming": True, "max_characters": 4096}, _price("per_character", 0.000015), "audio/mpeg",
     True, False, 2, (6, 0.01, 4.0)),
    ("replicate", "lucataco/xtts-v2", "2.0", "XTTS v2", "audio", "tts", "XTTS", "/predictions",
     {"voice": "female-1", "sample_rate": 24000}, {"supports_voice_cloning": True}, _price("per_second", 0.00022),
     "audio/wav", True, False, 3, (2, 0.09, 3.6)),
    ("replicate", "openai/whisper:large-v3", "large-v3", "Whisper large-v3", "audio", "transcription", "Whisper",
     "/predictions", {"language": "auto"}, {"supports_timestamps": True, "max_duration_seconds": 7200},
     _price("per_minute", 0.0048), "application/json", True, True, 1, (8, 0.02, 4.3)),
    ("openai", "whisper-1", "1", "Whisper (OpenAI API)", "audio", "transcription", "Whisper",
     "/audio/transcriptions", {"language": "auto"}, {"supports_timestamps": True}, _price("per_minute", 0.006),
     "application/json", True, False, 2, (5, 0.01, 4.2)),
    ("replicate", "meta/musicgen:stereo-large", "stereo-large", "MusicGen Stereo Large", "audio", "music",
     "MusicGen", "/predictions", {"duration": 8}, {"max_duration_seconds": 30}, _price("per_second", 0.0012),
     "audio/wav", True, True, 1, (3, 0.06, 3.9)),
    ("fal", "fal-ai/stable-audio", "1.0", "Stable Audio Open", "audio", "music", "Stable Audio", "/fal-ai/stable-audio",
     {"duration": 10}, {"max_duration_seconds": 47}, _price("per_second", 0.001), "audio/wav",
     False, False, 2, (1, 0.14, 3.3)),
]  # fmt: skip

ERRORS = [
    "Provider returned 503 Service Unavailable",
    "Timed out after 120 s waiting for the provider",
    "Input rejected by the provider's safety filter",
    "Provider rate limit exceeded (429)",
    "Output failed validation: empty result",
]
