"""Ask the assistant one question out loud and print the transcript of its spoken answer.

    OPENAI_API_KEY=sk-... python examples/ask.py "What is the tallest mountain?"

``--base-url http://127.0.0.1:PORT/v1`` points it at ``python -m voiced.simulator``
(any key will do there). The answer's audio arrives as ``response.output_audio.delta``
events; a real program would play it.
"""

from __future__ import annotations

import argparse
import asyncio

import voiced.client


async def ask(question: str, base_url: str | None) -> str:
    async with voiced.client.connect(base_url=base_url, instructions="Answer in one sentence.") as session:
        await session.say(question)
        transcript = ""
        async for event in session:
            if event["type"] == "response.output_audio_transcript.done":
                transcript = event["transcript"]
            elif event["type"] == "response.done":
                return transcript
    raise RuntimeError("the session ended before the answer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question")
    parser.add_argument("--base-url", help="the Realtime API's base URL (default: OpenAI's)")
    args = parser.parse_args()
    print(asyncio.run(ask(args.question, args.base_url)))


if __name__ == "__main__":
    main()
