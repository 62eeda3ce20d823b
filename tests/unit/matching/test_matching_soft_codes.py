"""A guessed occupation code is soft evidence: a wrong, low-confidence code cannot push out a worker whose
text matches the vacancy, and what the score used is said in words."""

from __future__ import annotations

import random

import pytest

from services.matching.domain.features import Encoder
from services.matching.domain.index import MatchIndex
from services.matching.domain.model import VacancyProfile, WorkerProfile
from services.matching.domain.ranker import NO_BOOST, BruteForceRanker
from services.matching.domain.text import Taxonomy

REGION = "410923"


class WrongCodeEncoder(Encoder):
    """Gives the vacancy's title a chosen wrong code at a chosen confidence, and the decoy workers the
    same code at full confidence: the worst case for a wrong guess."""

    def __init__(self, taxonomy: Taxonomy, wrong: str, confidence: float) -> None:
        super().__init__(taxonomy)
        self.wrong, self.confidence = wrong, confidence
        self._vacancy_side = False

    def soft_codes(self, term: str):
        if term.startswith("decoy"):
            return ((self.wrong, 1.0),)
        if self._vacancy_side:
            return ((self.wrong, self.confidence),)
        return super().soft_codes(term)

    def encode_vacancy(self, vacancy):
        self._vacancy_side = True
        try:
            return super().encode_vacancy(vacancy)
        finally:
            self._vacancy_side = False


def _case(seed: int):
    rng = random.Random(seed)
    taxonomy = Taxonomy.load()
    names = sorted({o.name for o in taxonomy.occupations.values() if 3 <= len(o.name) <= 8})
    title = rng.choice(names)
    true = taxonomy.classify(title, k=1)[0][0]
    wrong = rng.choice([c for c in taxonomy.occupations if c[:4] != true[:4]])
    confidence = rng.uniform(0.0, 0.5)
    vacancy = VacancyProfile(
        vacancy_id="v",
        employer_id="e",
        title=f"急招{title} 包吃住 4000-6000元",
        occupation="",
        region_code=REGION,
    )
    match = WorkerProfile(worker_id="match", region_code=REGION, desired_occupations=(title,))
    decoys = [
        WorkerProfile(worker_id=f"decoy{i}", region_code=REGION, desired_occupations=(f"decoy{i}",))
        for i in range(300)
    ]
    others = [
        WorkerProfile(worker_id=f"other{i}", region_code=REGION, desired_occupations=(rng.choice(names),))
        for i in range(100)
    ]
    return taxonomy, wrong, confidence, vacancy, [match, *decoys, *others]


@pytest.mark.parametrize("seed", range(12))
def test_a_wrong_low_confidence_code_cannot_push_a_text_match_out_of_the_top_10(seed):
    taxonomy, wrong, confidence, vacancy, workers = _case(seed)
    encoder = WrongCodeEncoder(taxonomy, wrong, confidence)
    index = MatchIndex(encoder=encoder, boost=NO_BOOST, pool_size=50)
    index.bulk_load(workers, [vacancy])
    top = [s.id for s in index.matches_for_vacancy("v", limit=10)]
    assert "match" in top, (
        f"seed {seed}: wrong code {wrong} at {confidence:.2f} pushed the text match out: {top}"
    )


def test_the_same_wrong_code_at_full_confidence_is_what_would_push_it_out():
    # The property above rests on the confidence: at 1.0 the decoys do win (so the test can fail).
    taxonomy, wrong, _, vacancy, workers = _case(0)
    encoder = WrongCodeEncoder(taxonomy, wrong, 1.0)
    index = MatchIndex(encoder=encoder, boost=NO_BOOST, pool_size=50)
    index.bulk_load(workers, [vacancy])
    top = [s.id for s in index.matches_for_vacancy("v", limit=10)]
    assert all(t.startswith("decoy") for t in top)


def test_the_explanation_names_the_occupation_evidence_and_its_confidence():
    worker = WorkerProfile(worker_id="w", region_code=REGION, skills=("电焊",), desired_occupations=("焊工",))
    vacancy = VacancyProfile(
        vacancy_id="v",
        employer_id="e",
        title="急招电焊学徒 包吃住 3000-5000元",
        occupation="",
        region_code=REGION,
    )
    (scored,) = BruteForceRanker().rank_workers_for_vacancy(vacancy, [worker])
    code, p = Encoder().soft_codes("电焊")[0]
    assert code == "6-18-02-04"
    assert scored.evidence[0].startswith(f'岗位"电焊"≈职业"焊工"(置信度{p:.2f})')
    assert any("文字相近" in e for e in scored.evidence)
    assert "evidence" in scored.to_dict()


def test_no_occupation_evidence_is_claimed_when_the_codes_did_not_add_to_the_score():
    worker = WorkerProfile(worker_id="w", region_code=REGION, desired_occupations=("保洁员",))
    vacancy = VacancyProfile(
        vacancy_id="v", employer_id="e", title="数控车工", occupation="", region_code=REGION
    )
    (scored,) = BruteForceRanker().rank_workers_for_vacancy(vacancy, [worker])
    assert scored.explanation["occupation_similarity"] == 0.0
    assert not any("职业" in e for e in scored.evidence)
