from problems.exceptions import DomainError


class CompanyNotFound(DomainError):
    code = "company-not-found"
    status = 400
    title = "The company does not exist."
